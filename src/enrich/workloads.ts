/**
 * What the resolver asks the runtime: the container or pod sandbox that has a given id, with
 * the cgroup paths the runtime recorded for it, and which running container holds a given
 * mount namespace right now.
 *
 * Pod sandboxes are looked up too because their processes (the pause container) live in
 * their own cgroup named after the sandbox id: such a process belongs to the pod, with no
 * container.
 *
 * @module
 */
import type { ContainerInventory } from "../runtime/inventory.ts";
import { type ContainerRecord, type PodRecord, podRecordOfSandbox } from "../runtime/record.ts";
import { cgroupsPathToCgroupPath, parseContainerInfo } from "../runtime/container_info.ts";
import type { CriPodSandbox } from "../runtime/cri_types.ts";
import { mountNamespaceIdOfPid, processStartBootNs } from "../runtime/proc.ts";
import { cgroupIdOfPath } from "../runtime/cgroup.ts";
import { NotFoundError } from "../errors.ts";

/** What proves that a cgroup is a workload's, whatever its kind. */
export interface WorkloadCgroup {
  /** The cgroup paths the runtime records for it (as found, spec literal, expansion). */
  cgroupPaths: string[];
  /** Its cgroup directory's id (inode in the v2 tree) while it exists. */
  cgroupId?: bigint;
  /** When it finished, ns since the epoch (exited containers). */
  finishedAtNs?: bigint;
}

/** A container or pod sandbox the runtime lists, with what proves a cgroup is its. */
export type Workload =
  & WorkloadCgroup
  & (
    | { kind: "container"; record: ContainerRecord }
    | { kind: "sandbox"; sandboxId: string; pod: PodRecord }
  );

/** Options of {@linkcode WorkloadLookup}. */
export interface WorkloadLookupOptions {
  /** procfs to read process facts from (`<host-root>/proc`). Default `/proc`. */
  procRoot?: string;
  /** The cgroup v2 tree's directory, to find a pod sandbox's cgroup id; default the inventory's. */
  cgroupRoot?: string;
  /**
   * How old a listing of running containers may be before a mount namespace that is not
   * in it makes a new listing, in ms. Default 1000.
   */
  refreshAfterMs?: number;
}

/** Lookups by container or sandbox id and by mount namespace, over one runtime. */
export class WorkloadLookup {
  readonly #inventory: ContainerInventory;
  readonly #procRoot: string;
  readonly #refreshAfterMs: number;
  readonly #cgroupRoot: string | undefined;
  /** Running containers by the mount namespace inode their init holds (several may share). */
  #running: Map<bigint, ContainerRecord[]> = new Map();
  #listedAt = -Infinity;
  #listing: Promise<void> | undefined;

  constructor(inventory: ContainerInventory, options: WorkloadLookupOptions = {}) {
    this.#inventory = inventory;
    this.#cgroupRoot = options.cgroupRoot ?? inventory.cgroupRoot;
    this.#procRoot = options.procRoot ?? "/proc";
    this.#refreshAfterMs = options.refreshAfterMs ?? 1000;
  }

  /**
   * The container (exited ones included, until the runtime removes them) or pod sandbox
   * whose full id is `id`; undefined when the runtime lists neither.
   * @throws {RuntimeUnavailableError|PermissionError} from the CRI calls.
   */
  async byId(id: string): Promise<Workload | undefined> {
    try {
      const record = await this.#inventory.get(id);
      if (record.mntns_id !== null && record.state === "running") {
        const key = BigInt(record.mntns_id);
        const others = (this.#running.get(key) ?? []).filter((r) => r.id !== record.id);
        this.#running.set(key, [...others, record]);
      }
      const workload: Workload = {
        kind: "container",
        record,
        cgroupPaths: record.cgroup_path === null ? [] : [record.cgroup_path],
      };
      if (record.cgroup_id !== null) workload.cgroupId = BigInt(record.cgroup_id);
      if (record.state === "exited") {
        const finished = (await this.#inventory.client.containerStatus(id)).status?.finishedAt;
        if (finished && BigInt(finished) > 0n) workload.finishedAtNs = BigInt(finished);
      }
      return workload;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    const client = this.#inventory.client;
    const sandbox = (await client.listPodSandboxes()).find((s) => s.id === id);
    if (!sandbox) return undefined;
    return {
      kind: "sandbox",
      sandboxId: id,
      pod: podRecordOfSandbox(sandbox),
      ...await this.#sandboxPaths(sandbox),
    };
  }

  async #sandboxPaths(sandbox: CriPodSandbox): Promise<WorkloadCgroup> {
    const response = await this.#inventory.client.call<{ info?: Record<string, string> }>(
      "RuntimeService",
      "PodSandboxStatus",
      { podSandboxId: sandbox.id, verbose: true },
    ).catch((error): { info?: Record<string, string> } => {
      if (error instanceof NotFoundError) return {};
      throw error;
    });
    const { specCgroupsPath } = parseContainerInfo(response.info);
    if (!specCgroupsPath) return { cgroupPaths: [] };
    const expanded = cgroupsPathToCgroupPath(specCgroupsPath);
    const found: WorkloadCgroup = {
      cgroupPaths: [
        specCgroupsPath,
        ...(expanded && expanded !== specCgroupsPath ? [expanded] : []),
      ],
    };
    if (expanded && this.#cgroupRoot) {
      const id = await cgroupIdOfPath(expanded, this.#cgroupRoot).catch(() => undefined);
      if (id !== undefined) found.cgroupId = id;
    }
    return found;
  }

  /**
   * The running containers whose init process is in mount namespace `mntnsId` now and was
   * already running at `eventBootNs` (CLOCK_BOOTTIME ns). Then the event's namespace and the
   * container's are one: two namespaces alive at once never share an inode number, and the
   * container's lived from before the event until now. Usually one; several when a
   * container's init joined another's namespace (`nsenter -t <pid> -m` as a node-shell or
   * debug pod's command). A container whose init moved to another mount namespace later is
   * not found: container inits do not. With `refresh` false only the last listing is
   * consulted (no CRI call).
   * @throws {RuntimeUnavailableError|PermissionError} from a CRI listing.
   */
  async runningIn(
    mntnsId: bigint,
    eventBootNs: bigint,
    refresh = true,
  ): Promise<ContainerRecord[]> {
    let records = this.#running.get(mntnsId);
    if (!records && refresh && performance.now() - this.#listedAt >= this.#refreshAfterMs) {
      await this.#refresh();
      records = this.#running.get(mntnsId);
    }
    const held = await Promise.all((records ?? []).map(async (record) => {
      if (!record.pid) return undefined;
      const [now, startedBootNs] = await Promise.all([
        mountNamespaceIdOfPid(record.pid, this.#procRoot).catch(() => undefined),
        processStartBootNs(record.pid, this.#procRoot).catch(() => undefined),
      ]);
      // Start times have clock-tick (10 ms) resolution: demand a full tick of margin.
      if (now !== mntnsId || startedBootNs === undefined) return undefined;
      return startedBootNs + 10_000_000n <= eventBootNs ? record : undefined;
    }));
    return held.filter((record): record is ContainerRecord => record !== undefined);
  }

  /**
   * Takes a fresh listing of the runtime's containers (e.g. the one a trace makes at start)
   * as the snapshot {@linkcode runningIn} consults.
   */
  seedRunning(records: readonly ContainerRecord[]): void {
    const running = new Map<bigint, ContainerRecord[]>();
    for (const r of records) {
      if (r.state !== "running" || r.mntns_id === null) continue;
      const key = BigInt(r.mntns_id);
      running.set(key, [...(running.get(key) ?? []), r]);
    }
    this.#running = running;
    this.#listedAt = performance.now();
  }

  /** Lists the runtime's containers now, whenever the last listing was. */
  refreshNow(): Promise<void> {
    return this.#refresh();
  }

  #refresh(): Promise<void> {
    this.#listing ??= this.#inventory.list().then((records) => this.seedRunning(records))
      .finally(() => (this.#listing = undefined));
    return this.#listing;
  }
}
