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
import type { ContainerSource } from "../runtime/client.ts";
import type { ContainerRecord, PodRecord } from "../runtime/record.ts";
import { mountNamespaceIdOfPid, processStartBootNs } from "../runtime/proc.ts";
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
  /**
   * How old a listing of running containers may be before a mount namespace that is not
   * in it makes a new listing, in ms. Default 1000.
   */
  refreshAfterMs?: number;
}

/** Lookups by container or sandbox id and by mount namespace, over one runtime. */
export class WorkloadLookup {
  readonly #runtime: ContainerSource;
  readonly #procRoot: string;
  readonly #refreshAfterMs: number;
  /** Running containers by the mount namespace inode their init holds (several may share). */
  #running: Map<bigint, ContainerRecord[]> = new Map();
  #listedAt = -Infinity;
  #listing: Promise<void> | undefined;

  constructor(runtime: ContainerSource, options: WorkloadLookupOptions = {}) {
    this.#runtime = runtime;
    this.#procRoot = options.procRoot ?? "/proc";
    this.#refreshAfterMs = options.refreshAfterMs ?? 1000;
  }

  /**
   * The container (exited ones included, until the runtime removes them) or pod sandbox
   * whose full id is `id`; undefined when the runtime lists neither.
   * @throws {RuntimeUnavailableError|PermissionError} from the runtime's calls.
   */
  async byId(id: string): Promise<Workload | undefined> {
    try {
      const record = await this.#runtime.get(id);
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
        const finished = await this.#runtime.finishedAtNs(id);
        if (finished !== undefined) workload.finishedAtNs = finished;
      }
      return workload;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    const sandbox = await this.#runtime.sandbox(id);
    if (!sandbox) return undefined;
    const workload: Workload = {
      kind: "sandbox",
      sandboxId: id,
      pod: sandbox.pod,
      cgroupPaths: sandbox.cgroupPaths,
    };
    if (sandbox.cgroupId !== undefined) workload.cgroupId = sandbox.cgroupId;
    return workload;
  }

  /**
   * The running containers whose init process is in mount namespace `mntnsId` now and was
   * already running at `eventBootNs` (CLOCK_BOOTTIME ns). Then the event's namespace and the
   * container's are one: two namespaces alive at once never share an inode number, and the
   * container's lived from before the event until now. Usually one; several when a
   * container's init joined another's namespace (`nsenter -t <pid> -m` as a node-shell or
   * debug pod's command). A container whose init moved to another mount namespace later is
   * not found: container inits do not. With `refresh` false only the last listing is
   * consulted (no runtime call).
   * @throws {RuntimeUnavailableError|PermissionError} from a runtime listing.
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
    this.#listing ??= this.#runtime.list().then((records) => this.seedRunning(records))
      .finally(() => (this.#listing = undefined));
    return this.#listing;
  }
}
