/**
 * Resolving a mount namespace seen in a kernel event to the container, pod sandbox or
 * non-container it belongs to — proven, or not at all.
 *
 * The kernel keys its verdicts by the namespace's never-reused serial (`mntnsSeq`), and with
 * the first event of an unknown namespace it sends the names and ids of the task's cgroup
 * and its ancestors (a {@linkcode CgroupSample}), read at the time of the event. The routes,
 * in order:
 *
 * 1. **Held by a running container.** When the init process of a running container of the
 *    last listing holds the namespace now and started before the event, the namespace is
 *    that container's, whatever cgroup the event's task was in (a process of another pod
 *    that joined it with `nsenter -m` does not make it the other pod's). When the inits of
 *    several hold it (a debug pod whose command is `nsenter -t <pid> -m ...`), the namespace
 *    is **shared** and each event goes to the container whose cgroup id it carries.
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
 *    namespace (rule (b) then applies to all).
 * 3. **Joined a running container** (a fresh listing): runc's `runc:[1:CHILD]` joins a
 *    container's namespace before its cgroup at every `kubectl exec`.
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
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "../runtime/proc.ts";
import { NotFoundError } from "../errors.ts";
import type { Workload, WorkloadLookup } from "./workloads.ts";

/** What the kernel told of a namespace with its first event. */
export interface NamespaceFacts {
  /** The namespace's serial (never reused). */
  mntnsSeq: bigint;
  /** Its inode number (`/proc/PID/ns/mnt`), reused by the kernel once it ends. */
  mntnsId: bigint;
  /** Process id of the event, in `procRoot`'s PID namespace. */
  pid: number;
  /** When the event happened, CLOCK_BOOTTIME ns. */
  tsBootNs: bigint;
  /** When the event happened, ns since the epoch. */
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
    const held = byHolders(await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs, false));
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
          const { record } = workload;
          if (record.state === "running" && record.mntns_id !== Number(facts.mntnsId)) {
            // A process of this container in another mount namespace: its own private one,
            // or another container's that it joined (nsenter). Ask afresh who holds it.
            await this.#lookup.refreshNow();
            const holders = byHolders(
              await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs, false),
            );
            if (holders) return holders;
          }
          return { kind: "container", record, proof };
        }
      }
      const joined = byHolders(await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs));
      if (joined) return joined;
      const where = `cgroup "/${cgroup.segments.join("/")}"`;
      return candidates.length === 0
        ? { kind: "none", reason: `${where} is no container's` }
        : { kind: "unconfirmed", reason: `${where} names no container the runtime confirms` };
    }
    const holders = byHolders(await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs));
    if (holders) return holders;
    return { kind: "unresolved", reason: `process ${facts.pid} left no cgroup to look at` };
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
      // The pid may have been reused by another process since: it must be in the namespace.
      const mntns = await mountNamespaceIdOfPid(facts.pid, this.#procRoot);
      const segments = mntns === facts.mntnsId ? cgroupSegments(path) : undefined;
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

/** The resolution of a namespace held by `records` (route 1), or undefined when none. */
function byHolders(records: ContainerRecord[]): Resolution | undefined {
  if (records.length === 0) return undefined;
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
