/**
 * What the resolver asks the runtime: the container or pod sandbox that has a given id, with
 * the cgroup paths the runtime recorded for it, and which running container or pod sandbox
 * holds a given mount namespace right now.
 *
 * Pod sandboxes are looked up too because their processes (the pause container) live in
 * their own cgroup named after the sandbox id: such a process belongs to the pod, with no
 * container.
 *
 * @module
 */
import type { ContainerSource, SandboxRecord } from "../runtime/client.ts";
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
}

/** An event's time, on both clocks. */
export interface EventTime {
  /** CLOCK_BOOTTIME ns (compared with process start times). */
  bootNs: bigint;
  /** ns since the epoch (compared with when a listing began). */
  wallNs: bigint;
}

/** The workloads whose init holds a mount namespace (see {@linkcode WorkloadLookup.holders}). */
export interface NamespaceHolders {
  /** Running containers; several when one's init joined another's namespace. */
  containers: ContainerRecord[];
  /** A pod sandbox (a CRI pod's pause, a Podman pod's infra container), when no container. */
  sandbox?: SandboxRecord;
}

/** A listing of running workloads, and when it began (ns since the epoch). */
interface Snapshot {
  /** Running containers by the mount namespace inode their init holds (several may share). */
  running: Map<bigint, ContainerRecord[]>;
  /** Running pod sandboxes by the mount namespace inode their init holds; absent: not asked. */
  sandboxes?: Map<bigint, SandboxRecord[]>;
  /** Containers by the id of their own cgroup; null when several claim it. */
  byCgroupId: Map<bigint, ContainerRecord | null>;
  beganNs: bigint;
}

const wallNowNs = () => BigInt(Date.now()) * 1_000_000n;

/** Lookups by container or sandbox id and by mount namespace, over one runtime. */
export class WorkloadLookup {
  readonly #runtime: ContainerSource;
  readonly #procRoot: string;
  #snapshot: Snapshot = { running: new Map(), byCgroupId: new Map(), beganNs: -1n };
  /** The listing in flight, if any, and when it began. */
  #listing: { beganNs: bigint; done: Promise<void> } | undefined;

  constructor(runtime: ContainerSource, options: WorkloadLookupOptions = {}) {
    this.#runtime = runtime;
    this.#procRoot = options.procRoot ?? "/proc";
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
        const { running } = this.#snapshot;
        const others = (running.get(key) ?? []).filter((r) => r.id !== record.id);
        running.set(key, [...others, record]);
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
   * The running containers, else the running pod sandbox, whose init process is in mount
   * namespace `mntnsId` now and was already running at the event. Then the event's namespace
   * and the workload's are one: two namespaces alive at once never share an inode number,
   * and the workload's lived from before the event until now. Usually one container;
   * several when a container's init joined another's namespace (`nsenter -t <pid> -m ...` as
   * a node-shell or debug pod's command). A workload whose init moved to another mount
   * namespace later is not found: container inits do not.
   *
   * With `refresh` false only the last listing is consulted (no runtime call). With
   * `refresh`, when no workload of the last listing holds the namespace and that listing
   * began before the event (it may predate the holder), or pod sandboxes were never listed,
   * the runtime is listed afresh: a namespace a runtime helper joined from outside the
   * workload's cgroup (runc's `runc:[1:CHILD]`, an exec into a Podman pod's infra container)
   * is never taken for the host's because the listing was too old.
   * @throws {RuntimeUnavailableError|PermissionError} from a runtime listing.
   */
  async holders(
    mntnsId: bigint,
    event: EventTime,
    refresh = true,
  ): Promise<NamespaceHolders> {
    let found = await this.#heldIn(mntnsId, event.bootNs);
    const snapshot = this.#snapshot;
    if (
      found.containers.length === 0 && !found.sandbox && refresh &&
      (snapshot.beganNs < event.wallNs || !snapshot.sandboxes)
    ) {
      // Sandboxes never listed: a listing now, whenever the last one began.
      await this.#refreshAfter(snapshot.sandboxes ? event.wallNs : wallNowNs());
      found = await this.#heldIn(mntnsId, event.bootNs);
    }
    return found;
  }

  /** {@linkcode holders} in the last listing, verified against `/proc` now. */
  async #heldIn(mntnsId: bigint, eventBootNs: bigint): Promise<NamespaceHolders> {
    const { running, sandboxes } = this.#snapshot;
    const containers = (await Promise.all(
      (running.get(mntnsId) ?? []).map(async (record) =>
        await this.#holds(record.pid ?? undefined, mntnsId, eventBootNs) ? record : undefined
      ),
    )).filter((record): record is ContainerRecord => record !== undefined);
    if (containers.length > 0) return { containers };
    for (const sandbox of sandboxes?.get(mntnsId) ?? []) {
      if (await this.#holds(sandbox.pid, mntnsId, eventBootNs)) return { containers, sandbox };
    }
    return { containers };
  }

  /** Whether process `pid` is in `mntnsId` now and started before `eventBootNs`. */
  async #holds(pid: number | undefined, mntnsId: bigint, eventBootNs: bigint): Promise<boolean> {
    if (!pid) return false;
    const [now, startedBootNs] = await Promise.all([
      mountNamespaceIdOfPid(pid, this.#procRoot).catch(() => undefined),
      processStartBootNs(pid, this.#procRoot).catch(() => undefined),
    ]);
    // Start times have clock-tick (10 ms) resolution: demand a full tick of margin.
    if (now !== mntnsId || startedBootNs === undefined) return false;
    return startedBootNs + 10_000_000n <= eventBootNs;
  }

  /**
   * Takes a fresh listing of the runtime's containers (e.g. the one a trace makes at start)
   * as the snapshot {@linkcode holders} consults; pod sandboxes are listed at the first
   * need.
   * @param beganNs when that listing began, ns since the epoch (default now)
   */
  seedRunning(records: readonly ContainerRecord[], beganNs = wallNowNs()): void {
    this.#snapshot = {
      running: byMountNamespace(records),
      byCgroupId: byOwnCgroupId(records),
      beganNs,
    };
  }

  /**
   * The container whose own cgroup is one of `cgroupIds` (the kernel's ids of an event's
   * cgroup and its ancestors, innermost first), in a listing begun after the event
   * (`eventWallNs`, ns since the epoch): the last one, else a new one. This proves a
   * container whatever its cgroup is named (a `ctr run` container's `/default/<name>`, any
   * custom parent), as a cgroup id is never reused while the kernel sends it. A cgroup that
   * several containers of the listing claim, or the root's, proves none.
   * @throws {RuntimeUnavailableError|PermissionError} from a runtime listing.
   */
  async byCgroupId(
    cgroupIds: readonly bigint[],
    eventWallNs: bigint,
  ): Promise<ContainerRecord | undefined> {
    const find = () => {
      for (const id of cgroupIds) {
        const record = this.#snapshot.byCgroupId.get(id);
        if (record !== undefined) return record ?? undefined;
      }
      return undefined;
    };
    const found = find();
    if (found || this.#snapshot.beganNs > eventWallNs) return found;
    await this.#refreshAfter(eventWallNs + 1n);
    return find();
  }

  /** Lists the runtime's containers and pod sandboxes now, whenever the last listing was. */
  refreshNow(): Promise<void> {
    return this.#refreshAfter(wallNowNs());
  }

  /**
   * Makes sure the snapshot began at or after `wallNs`: joins a listing in flight that
   * began then, else (after the one in flight, if any) starts one, shared by every caller
   * meanwhile. A burst of new namespaces costs two listings at most.
   */
  async #refreshAfter(wallNs: bigint): Promise<void> {
    while (this.#snapshot.beganNs < wallNs) {
      const listing = this.#listing;
      if (listing) {
        await listing.done;
        if (listing.beganNs >= wallNs) return;
        continue;
      }
      const beganNs = wallNowNs();
      const done = this.#list(beganNs).finally(() => {
        if (this.#listing?.done === done) this.#listing = undefined;
      });
      this.#listing = { beganNs, done };
      await done;
      return;
    }
  }

  async #list(beganNs: bigint): Promise<void> {
    const [records, sandboxes] = await Promise.all([
      this.#runtime.list(),
      this.#runtime.sandboxes ? this.#runtime.sandboxes() : Promise.resolve([]),
    ]);
    const byNamespace = new Map<bigint, SandboxRecord[]>();
    await Promise.all(sandboxes.map(async (sandbox) => {
      if (!sandbox.pid) return;
      const mntns = await mountNamespaceIdOfPid(sandbox.pid, this.#procRoot).catch(() => {});
      if (mntns === undefined) return;
      byNamespace.set(mntns, [...(byNamespace.get(mntns) ?? []), sandbox]);
    }));
    if (beganNs >= this.#snapshot.beganNs) {
      this.#snapshot = {
        running: byMountNamespace(records),
        sandboxes: byNamespace,
        byCgroupId: byOwnCgroupId(records),
        beganNs,
      };
    }
  }
}

/** Running containers by the mount namespace inode their init holds. */
function byMountNamespace(records: readonly ContainerRecord[]): Map<bigint, ContainerRecord[]> {
  const running = new Map<bigint, ContainerRecord[]>();
  for (const r of records) {
    if (r.state !== "running" || r.mntns_id === null) continue;
    const key = BigInt(r.mntns_id);
    running.set(key, [...(running.get(key) ?? []), r]);
  }
  return running;
}

/**
 * Containers by the id of their own cgroup (the root's excluded: every host process's);
 * null for an id several containers claim.
 */
function byOwnCgroupId(records: readonly ContainerRecord[]): Map<bigint, ContainerRecord | null> {
  const byId = new Map<bigint, ContainerRecord | null>();
  for (const r of records) {
    if (r.cgroup_id === null || r.cgroup_path === null || r.cgroup_path === "/") continue;
    const key = BigInt(r.cgroup_id);
    byId.set(key, byId.has(key) ? null : r);
  }
  return byId;
}
