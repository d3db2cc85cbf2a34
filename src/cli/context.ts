/**
 * Opening the node's runtime for a command: discovery, then an inventory over it.
 *
 * @module
 */
import { connectRuntime, readEndpointSettings } from "../runtime/discovery.ts";
import { ContainerInventory } from "../runtime/inventory.ts";
import type { GlobalFlags } from "./options.ts";

/** Where commands write diagnostics (stderr in the CLI, an array in tests). */
export type Diagnostics = (line: string) => void;

/**
 * Discovers and connects the runtime named by the global flags; returns its inventory.
 * Close `inventory.client` when done.
 * @throws {RuntimeUnavailableError|PermissionError|UsageError} from discovery.
 */
export async function openInventory(
  global: GlobalFlags,
  diagnostics: Diagnostics,
): Promise<ContainerInventory> {
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
  return new ContainerInventory(client, {
    runtimeName: probe.runtimeName ?? "unknown",
    runtimeEndpoint: probe.endpoint,
    ...(global.hostRoot ? { hostRoot: global.hostRoot } : {}),
  });
}
