/**
 * Resolving a mount namespace seen in a kernel event to the container, pod sandbox or
 * non-container it belongs to — proven, or not at all.
 *
 * The kernel keys its verdicts by the namespace's never-reused serial (`mntnsSeq`), and with
 * the first event of an unknown namespace it sends the names and ids of the task's cgroup
 * and its ancestors (a {@linkcode CgroupSample}), read at the time of the event. The routes,
 * in order:
 *
 * 1. **Held by a running container or pod sandbox.** When the init process of a running
 *    container of the last listing holds the namespace now and started before the event,
 *    the namespace is that container's, whatever cgroup the event's task was in (a process
 *    of another pod that joined it with `nsenter -m` does not make it the other pod's).
 *    When the inits of several hold it (a debug pod whose command is `nsenter -t <pid> -m
 *    ...`), the namespace is **shared** and each event goes to the container whose cgroup
 *    id it carries. When no container's init holds it but a pod sandbox's does (a CRI pod's
 *    pause, a Podman pod's infra container), it is that pod's sandbox.
 *    (The listing is the trace's start listing, refreshed as below.)
 * 2. **Cgroup.** Every container id the cgroup path names (innermost first, see
 *    `containerCandidates`) is a claim: a privileged container can create a sub-cgroup
 *    named after another container. A candidate is accepted only when the runtime lists a
 *    container or pod sandbox of that id and (a) while its cgroup exists, the kernel's id
 *    of the candidate's level (or one below it, crun's `container`) is that cgroup's id;
 *    (b) once it is gone (an exited one-shot container), the path the runtime recorded
 *    names the same cgroup (`cgroupPathAgrees`) and the event is no later than a second
 *    after the container finished. This works after the process and its cgroup are gone,
 *    as long as the runtime still lists the container. When the proven container runs but
 *    its init holds another mount namespace, the runtime is listed afresh and a running
 *    container holding the event's namespace wins (route 1). Without a cgroup sample (never
 *    expected) `/proc/<pid>/cgroup` is read instead, while the process lives in the
 *    namespace and started before the event (rule (b) then applies to all).
 *
 * "The event" is when the kernel read the facts: for a TCP event, when its socket's owner
 * was recorded at connect/accept, not the later state change (a close may come after the
 * owner's container ended and another took its namespace's inode number).
 * 2b. **Cgroup id.** When no named candidate is proven (a `ctr run` container's
 *    `/default/<name>` that no layout names; a custom parent), the container of a listing
 *    begun after the event whose own cgroup id is one the kernel sent for the event's cgroup
 *    or an ancestor, innermost first (`WorkloadLookup.byCgroupId`).
 * 3. **Joined a running container or pod sandbox** (listed afresh when the last listing
 *    began before the event, so it cannot predate the holder): runc's `runc:[1:CHILD]`
 *    joins a container's namespace before its cgroup at every `kubectl exec`, and Podman's
 *    exec helpers join an infra container's from the service's cgroup (`/` here).
 * 4. Otherwise: a cgroup outside every container layout (a host service, a login shell, a
 *    host process with a private mount namespace) is **none**: no container's. A cgroup
 *    that names container ids the runtime does not confirm (removed already, or another
 *    runtime's) is **unconfirmed**. Without any cgroup facts, **unresolved**.
 *
 * @module
 */
import type { CgroupSample } from "../bpf/event.ts";
import type { ContainerRecord, PodRecord } from "../runtime/record.ts";
import {
  type CgroupCandidate,
  cgroupPathAgrees,
  cgroupSegments,
  containerCandidates,
} from "../runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid, processStartBootNs } from "../runtime/proc.ts";
import { NotFoundError } from "../errors.ts";
import type { NamespaceHolders, Workload, WorkloadLookup } from "./workloads.ts";

/** What the kernel told of a namespace with its first event. */
export interface NamespaceFacts {
  /** The namespace's serial (never reused). */
  mntnsSeq: bigint;
  /** Its inode number (`/proc/PID/ns/mnt`), reused by the kernel once it ends. */
  mntnsId: bigint;
  /** Process id of the event, in `procRoot`'s PID namespace. */
  pid: number;
  /**
   * When the kernel read these facts, CLOCK_BOOTTIME ns: the event's time, or for a TCP
   * event when its socket's owner was recorded (`ownerFactsBootNs`), which may be long
   * before the event. Every proof is made as of this time.
   */
  tsBootNs: bigint;
  /** The same time in ns since the epoch. */
  wallTimeNs: bigint;
  /** The task's cgroup names at the time of the event, when the kernel sent them. */
  cgroup?: CgroupSample;
}

/** What a mount namespace turned out to be, with how it was proven. */
export type Resolution =
  /** A container the runtime lists. */
  | { kind: "container"; record: ContainerRecord; proof: string }
  /**
   * A mount namespace the inits of several running containers hold (one joined the
   * other's): each event is the container whose cgroup id it carries.
   */
  | { kind: "shared"; records: ContainerRecord[]; proof: string }
  /** A pod sandbox's own process (pause): the pod's, no container. */
  | { kind: "sandbox"; pod: PodRecord; proof: string }
  /** No container's: the cgroup is outside every container layout (the host). */
  | { kind: "none"; reason: string }
  /** A container's cgroup by its layout, but the runtime does not confirm any id it names. */
  | { kind: "unconfirmed"; reason: string }
  /** Nothing could be established (the process left no cgroup facts). */
  | { kind: "unresolved"; reason: string };

/** Finds what a mount namespace belongs to: see the module doc for the routes. */
export class ContainerResolver {
  readonly #lookup: WorkloadLookup;
  readonly #procRoot: string;
  /** Pause before asking again for an id the runtime does not list yet, in ms. */
  readonly retryDelayMs: number;

  constructor(lookup: WorkloadLookup, procRoot = "/proc", retryDelayMs = 100) {
    this.#lookup = lookup;
    this.#procRoot = procRoot;
    this.retryDelayMs = retryDelayMs;
  }

  /**
   * Resolves one namespace. Never throws for a vanished process or an unknown id; CRI
   * transport errors propagate.
   */
  async resolve(facts: NamespaceFacts): Promise<Resolution> {
    const event = { bootNs: facts.tsBootNs, wallNs: facts.wallTimeNs };
    const held = byHolders(await this.#lookup.holders(facts.mntnsId, event, false));
    if (held) return held;
    const cgroup = await this.#cgroup(facts);
    if (cgroup !== undefined) {
      const candidates = containerCandidates(cgroup.segments);
      for (const [index, candidate] of candidates.entries()) {
        // Only the innermost id may be a container still being created: ask twice.
        const workload = await this.#workload(candidate.containerId, index === 0);
        if (workload && this.#proves(workload, cgroup, candidate, facts.wallTimeNs)) {
          const proof = `cgroup ${short(candidate.containerId)}`;
          if (workload.kind === "sandbox") return { kind: "sandbox", pod: workload.pod, proof };
          return await this.#containerOf(workload.record, proof, facts);
        }
      }
      if (cgroup.ids) {
        const owner = await this.#lookup.byCgroupId([...cgroup.ids].reverse(), facts.wallTimeNs);
        if (owner) return await this.#containerOf(owner, `cgroup id ${short(owner.id)}`, facts);
      }
      const joined = byHolders(await this.#lookup.holders(facts.mntnsId, event));
      if (joined) return joined;
      const where = `cgroup "/${cgroup.segments.join("/")}"`;
      return candidates.length === 0
        ? { kind: "none", reason: `${where} is no container's` }
        : { kind: "unconfirmed", reason: `${where} names no container the runtime confirms` };
    }
    const holders = byHolders(await this.#lookup.holders(facts.mntnsId, event));
    if (holders) return holders;
    return { kind: "unresolved", reason: `process ${facts.pid} left no cgroup to look at` };
  }

  /**
   * `record`, proven by its cgroup, as the namespace's container; unless it runs and its
   * init holds another mount namespace: a process of it in its own private one, or in
   * another container's that it joined (nsenter). Then who holds it is asked afresh.
   */
  async #containerOf(
    record: ContainerRecord,
    proof: string,
    facts: NamespaceFacts,
  ): Promise<Resolution> {
    if (record.state === "running" && record.mntns_id !== Number(facts.mntnsId)) {
      await this.#lookup.refreshNow();
      const event = { bootNs: facts.tsBootNs, wallNs: facts.wallTimeNs };
      const holders = byHolders(await this.#lookup.holders(facts.mntnsId, event, false));
      if (holders) return holders;
    }
    return { kind: "container", record, proof };
  }

  /** Whether `workload` is proven to own the cgroup at `candidate` (module doc, route 2). */
  #proves(
    workload: Workload,
    cgroup: { segments: string[]; ids?: bigint[] },
    candidate: CgroupCandidate,
    wallTimeNs: bigint,
  ): boolean {
    if (workload.cgroupId !== undefined && cgroup.ids) {
      return cgroup.ids.slice(candidate.segmentIndex).includes(workload.cgroupId);
    }
    if (!cgroupPathAgrees(workload.cgroupPaths, cgroup.segments, candidate)) return false;
    return workload.finishedAtNs === undefined ||
      wallTimeNs <= workload.finishedAtNs + FINISHED_GRACE_NS;
  }

  /**
   * The cgroup path's segments, from the kernel's sample (whatever levels it holds), else
   * from /proc while the process still lives in the namespace.
   */
  async #cgroup(
    facts: NamespaceFacts,
  ): Promise<{ segments: string[]; ids?: bigint[] } | undefined> {
    if (facts.cgroup) {
      const { segments, ids } = facts.cgroup;
      return ids.length === segments.length ? { segments, ids } : { segments };
    }
    try {
      const path = await cgroupPathOfPid(facts.pid, this.#procRoot);
      // The pid may have been reused by another process since, and the namespace's inode
      // number too (a TCP event comes long after its owner's facts): the process must be in
      // the namespace and have started before the facts were read.
      const mntns = await mountNamespaceIdOfPid(facts.pid, this.#procRoot);
      const started = await processStartBootNs(facts.pid, this.#procRoot);
      const same = mntns === facts.mntnsId && started <= facts.tsBootNs;
      const segments = same ? cgroupSegments(path) : undefined;
      return segments && { segments };
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async #workload(id: string, retry: boolean): Promise<Workload | undefined> {
    const workload = await this.#lookup.byId(id);
    if (workload || !retry) return workload;
    await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
    return await this.#lookup.byId(id);
  }
}

/** The resolution of a namespace held by `holders` (route 1), or undefined when none. */
function byHolders({ containers: records, sandbox }: NamespaceHolders): Resolution | undefined {
  if (records.length === 0) {
    return sandbox && { kind: "sandbox", pod: sandbox.pod, proof: "mount namespace" };
  }
  if (records.length === 1) {
    return { kind: "container", record: records[0]!, proof: "mount namespace" };
  }
  return { kind: "shared", records, proof: "mount namespace shared by several containers" };
}

/** How long after a container finished an event may still be its, in ns (clock skew). */
const FINISHED_GRACE_NS = 1_000_000_000n;

function short(id: string): string {
  return id.slice(0, 13);
}
