/**
 * Opening the node's runtime for a command: discovery, then the PID namespace check.
 *
 * @module
 */
import { join } from "node:path";
import { connectRuntime, readEndpointSettings } from "../runtime/discovery.ts";
import type { RuntimeClient } from "../runtime/client.ts";
import {
  describePidNamespace,
  requireVisibleRuntime,
  type VisiblePidNamespace,
} from "../runtime/pid_namespace.ts";
import type { GlobalFlags } from "./options.ts";

/** Where commands write diagnostics (stderr in the CLI, an array in tests). */
export type Diagnostics = (line: string) => void;

/** A connected runtime, and the PID namespace its pids are seen from. */
export interface OpenedRuntime {
  /** Close it when done. */
  runtime: RuntimeClient;
  /** `host`, or `node` (a kind node: pids are that namespace's, see its inode and dev). */
  pidNamespace: VisiblePidNamespace;
}

/**
 * Discovers and connects the runtime named by the global flags, checks that crienrich's
 * `/proc` (`--host-root`'s) shows the runtime's processes, and returns its client. Close
 * `runtime` when done.
 * @throws {RuntimeUnavailableError|PermissionError|UsageError} from discovery.
 * @throws {PidNamespaceError} crienrich runs in a PID namespace without the runtime.
 */
export async function openRuntime(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<OpenedRuntime> {
  const settings = await readEndpointSettings(global.runtimeEndpoint, global.hostRoot);
  const { client, probe } = await connectRuntime(
    { ...settings, timeoutMs: global.timeoutMs },
    global.debug ? (line) => diagnostics(`debug: ${line}`) : undefined,
  );
  if (global.debug) {
    diagnostics(
      `debug: using ${probe.endpoint} (${probe.source}): ${probe.runtimeName} ${probe.runtimeVersion} (${probe.kind} API ${probe.apiVersion})`,
    );
  }
  // Container pids come from the runtime and are looked up in /proc: both must be seen
  // from one PID namespace, or every pid-derived fact (cgroup, mount namespace) is wrong.
  const procRoot = join(global.hostRoot ?? "/", "proc");
  let pidNamespace: VisiblePidNamespace;
  try {
    pidNamespace = await requireVisibleRuntime({ procRoot, criSocketPath: client.socketPath });
  } catch (error) {
    client.close();
    throw error;
  }
  if (global.debug) diagnostics(`debug: ${describePidNamespace(pidNamespace, procRoot)}`);
  return { runtime: client, pidNamespace };
}

/**
 * {@linkcode openRuntime}'s client alone (`ps`, `inspect`). Close it when done.
 * @throws {RuntimeUnavailableError|PermissionError|UsageError|PidNamespaceError}
 */
export async function openRuntimeClient(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<RuntimeClient> {
  return (await openRuntime(global, diagnostics)).runtime;
}
