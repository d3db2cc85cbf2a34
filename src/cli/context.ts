/**
 * Opening the node's runtime for a command: discovery, the PID namespace check, then an
 * inventory over it.
 *
 * @module
 */
import { join } from "node:path";
import { connectRuntime, readEndpointSettings } from "../runtime/discovery.ts";
import { ContainerInventory } from "../runtime/inventory.ts";
import {
  describePidNamespace,
  requireVisibleRuntime,
  type VisiblePidNamespace,
} from "../runtime/pid_namespace.ts";
import type { GlobalFlags } from "./options.ts";

/** Where commands write diagnostics (stderr in the CLI, an array in tests). */
export type Diagnostics = (line: string) => void;

/** A connected runtime's inventory, and the PID namespace its pids are seen from. */
export interface OpenedRuntime {
  inventory: ContainerInventory;
  /** `host`, or `node` (a kind node: pids are that namespace's, see its inode and dev). */
  pidNamespace: VisiblePidNamespace;
}

/**
 * Discovers and connects the runtime named by the global flags, checks that crienrich's
 * `/proc` (`--host-root`'s) shows the runtime's processes, and returns its inventory. Close
 * `inventory.client` when done.
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
      `debug: using ${probe.endpoint} (${probe.source}): ${probe.runtimeName} ${probe.runtimeVersion}`,
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
  const inventory = new ContainerInventory(client, {
    runtimeName: probe.runtimeName ?? "unknown",
    runtimeEndpoint: probe.endpoint,
    ...(global.hostRoot ? { hostRoot: global.hostRoot } : {}),
  });
  return { inventory, pidNamespace };
}

/**
 * {@linkcode openRuntime}'s inventory alone (`ps`, `inspect`).
 * @throws {RuntimeUnavailableError|PermissionError|UsageError|PidNamespaceError}
 */
export async function openInventory(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<ContainerInventory> {
  return (await openRuntime(global, diagnostics)).inventory;
}
