/**
 * Opening the node's runtime for a command: discovery, then the PID namespace check.
 *
 * @module
 */
import { join } from "node:path";
import { connectRuntimes, type EndpointProbe, readEndpointSettings } from "../runtime/discovery.ts";
import { RuntimeSet } from "../runtime/runtime_set.ts";
import { runtimeKind } from "../runtime/runtime_kinds.ts";
import {
  describePidNamespace,
  requireVisibleRuntime,
  type VisiblePidNamespace,
} from "../runtime/pid_namespace.ts";
import { DEFAULT_CRI_TIMEOUT_MS } from "../runtime/cri_client.ts";
import { errorMessage } from "../errors.ts";
import type { GlobalFlags } from "./options.ts";

/** Where commands write diagnostics (stderr in the CLI, an array in tests). */
export type Diagnostics = (line: string) => void;

/** The node's connected runtimes, and the PID namespace their pids are seen from. */
export interface OpenedRuntime {
  /** Every runtime that answered, as one source of containers. Close it when done. */
  runtime: RuntimeSet;
  /** `host`, or `node` (a kind node: pids are that namespace's, see its inode and dev). */
  pidNamespace: VisiblePidNamespace;
}

/** "Docker Engine at unix:///run/docker.sock" */
function describeProbe(probe: EndpointProbe): string {
  const who = probe.usedBy ?? (probe.kind ? runtimeKind(probe.kind).api : "runtime");
  return `${who} at ${probe.endpoint}`;
}

/**
 * Discovers and connects every runtime the global flags lead to (README "Several runtimes
 * on one node"), checks that crienrich's `/proc` (`--host-root`'s) shows the first one's
 * processes, and returns them as one {@linkcode RuntimeSet}. A runtime socket found that does
 * not answer, at start or later, is said on `diagnostics` and its containers are left out.
 * Close `runtime` when done.
 * @throws {RuntimeUnavailableError|PermissionError|UsageError} from discovery (no runtime
 *   answered).
 * @throws {PidNamespaceError} crienrich runs in a PID namespace without the runtime.
 */
export async function openRuntime(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<OpenedRuntime> {
  const settings = await readEndpointSettings(global.runtimeEndpoint, global.hostRoot);
  const timeoutMs = global.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
  const { runtimes, failed } = await connectRuntimes(
    { ...settings, timeoutMs },
    global.debug ? (line) => diagnostics(`debug: ${line}`) : undefined,
  );
  for (const probe of failed) {
    diagnostics(
      `crienrich: ${describeProbe(probe)} did not answer (${probe.status}${
        probe.status === "no answer" ? ` within ${timeoutMs} ms` : ""
      }): its containers are left out`,
    );
  }
  if (global.debug) {
    for (const { probe } of runtimes) {
      diagnostics(
        `debug: using ${probe.endpoint} (${probe.source}): ${probe.runtimeName} ${probe.runtimeVersion} (${probe.kind} API ${probe.apiVersion})`,
      );
    }
  }
  const runtime = new RuntimeSet(runtimes.map((r) => r.client), {
    timeoutMs,
    silentAtStart: failed.filter((probe) => probe.status === "no answer").map(describeProbe),
    onUnavailable: (member, error) =>
      diagnostics(
        `crienrich: ${member.kind} runtime at ${member.endpoint} did not answer (${
          errorMessage(error)
        }): its containers are left out`,
      ),
  });
  // Container pids come from the runtime and are looked up in /proc: both must be seen
  // from one PID namespace, or every pid-derived fact (cgroup, mount namespace) is wrong.
  const procRoot = join(global.hostRoot ?? "/", "proc");
  let pidNamespace: VisiblePidNamespace;
  try {
    pidNamespace = await requireVisibleRuntime({
      procRoot,
      criSocketPath: runtime.members[0]!.socketPath,
    });
  } catch (error) {
    runtime.close();
    throw error;
  }
  if (global.debug) diagnostics(`debug: ${describePidNamespace(pidNamespace, procRoot)}`);
  return { runtime, pidNamespace };
}

/**
 * {@linkcode openRuntime}'s runtimes alone (`ps`, `inspect`). Close it when done.
 * @throws {RuntimeUnavailableError|PermissionError|UsageError|PidNamespaceError}
 */
export async function openRuntimeClient(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<RuntimeSet> {
  return (await openRuntime(global, diagnostics)).runtime;
}
