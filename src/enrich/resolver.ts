/**
 * Resolving a mount namespace seen in a kernel event to the container it belongs to.
 *
 * The join key is the mount namespace id (`task->nsproxy->mnt_ns->ns.inum`): every
 * container has its own, on cgroup v2, hybrid and v1-only nodes alike, whereas
 * `bpf_get_current_cgroup_id()` means nothing on v1-only nodes. Inspektor Gadget joins on
 * the same key. To find the container of a new namespace we read the cgroup path of the
 * process that produced the event (`/proc/<pid>/cgroup`), take the container id out of it
 * (`parseCgroupPath`, every driver layout) and ask the runtime for that container.
 *
 * @module
 */
import { join } from "node:path";
import type { ContainerInventory } from "../runtime/inventory.ts";
import type { ContainerRecord } from "../runtime/record.ts";
import { parseCgroupPath } from "../runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespacesInUse } from "../runtime/proc.ts";
import { NotFoundError } from "../errors.ts";

/** What a mount namespace turned out to be. */
export type Resolution =
  /** A container the runtime knows. */
  | { kind: "container"; record: ContainerRecord }
  /** Not a container of this runtime: a host service, a pod sandbox, another runtime's. */
  | { kind: "not-container"; reason: string }
  /** The process left before we could look (and no known container has this namespace). */
  | { kind: "gone"; reason: string };

/** Finds the container of a process, by cgroup path then CRI. */
export class ContainerResolver {
  readonly #inventory: ContainerInventory;
  readonly #procRoot: string;
  /** Pause between the two CRI lookups of an id the runtime does not list yet, in ms. */
  readonly retryDelayMs: number;

  constructor(inventory: ContainerInventory, hostRoot = "/", retryDelayMs = 100) {
    this.#inventory = inventory;
    this.#procRoot = join(hostRoot, "proc");
    this.retryDelayMs = retryDelayMs;
  }

  /**
   * Resolves the container of host process `pid`, whose mount namespace is `mntnsId`.
   * One /proc read and one or two CRI calls. Never throws for a vanished process or an
   * unknown container; CRI transport errors propagate.
   */
  async resolve(pid: number, mntnsId: bigint): Promise<Resolution> {
    let cgroupPath: string;
    try {
      cgroupPath = await cgroupPathOfPid(pid, this.#procRoot);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // Short-lived processes (runc's intermediate child, a quick exec) are often gone
      // already; any other process in the same namespace tells the same container.
      const sibling = await this.#livePidIn(mntnsId);
      if (sibling === undefined) {
        return await this.#byMountNamespace(mntnsId, `process ${pid} exited before lookup`);
      }
      return await this.resolve(sibling, mntnsId);
    }
    const ref = parseCgroupPath(cgroupPath);
    if (!ref) return { kind: "not-container", reason: `cgroup "${cgroupPath}" is no container's` };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return { kind: "container", record: await this.#inventory.get(ref.containerId) };
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        // The runtime may not list a container it is still creating: look once more.
        if (attempt === 0) await new Promise((r) => setTimeout(r, this.retryDelayMs));
      }
    }
    return {
      kind: "not-container",
      reason: `container ${
        ref.containerId.slice(0, 13)
      } is not listed by the runtime (a pod sandbox or another runtime's)`,
    };
  }

  /** A live process whose mount namespace is `mntnsId`, if any. */
  async #livePidIn(mntnsId: bigint): Promise<number | undefined> {
    return (await mountNamespacesInUse(this.#procRoot)).get(mntnsId);
  }

  /** Last resort for a vanished process: a listed container with the same namespace. */
  async #byMountNamespace(mntnsId: bigint, reason: string): Promise<Resolution> {
    const records = await this.#inventory.list();
    const record = records.find((r) => r.mntns_id !== null && BigInt(r.mntns_id) === mntnsId);
    return record ? { kind: "container", record } : { kind: "gone", reason };
  }
}
