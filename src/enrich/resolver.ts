/**
 * Resolving a mount namespace seen in a kernel event to the container, pod sandbox or
 * non-container it belongs to — proven, or not at all.
 *
 * The kernel keys its verdicts by the namespace's never-reused serial (`mntnsSeq`), and with
 * the first event of an unknown namespace it sends the names of the task's cgroup and its
 * ancestors (a {@linkcode CgroupSample}), read at the time of the event. The routes, in
 * order:
 *
 * 1. **Cgroup names.** Every container id the cgroup path names (innermost first, see
 *    `containerCandidates`) is a claim: a privileged container can create a sub-cgroup
 *    named after another container. A candidate is accepted only when the runtime lists a
 *    container or pod sandbox of that id AND the cgroup path the runtime recorded for it
 *    names the same cgroup (`cgroupPathAgrees`). This works after the process and its
 *    cgroup are gone, as long as the runtime still lists the container (CRI lists exited
 *    containers until they are removed). Without a cgroup sample (never expected) the
 *    process's `/proc/<pid>/cgroup` is read instead, if the process still lives in the
 *    namespace.
 * 2. **Mount namespace.** A task outside every container cgroup may still be in a
 *    container's namespace: runc's `runc:[1:CHILD]` joins it before it is moved into the
 *    cgroup (every `kubectl exec`), and so does `nsenter -m`. It belongs to the running
 *    container whose init holds that namespace now and was started before the event
 *    (`WorkloadLookup.runningIn`).
 * 3. Otherwise a cgroup outside every container layout (a host service, a login shell, a
 *    host process with a private mount namespace) is **none**: no container's. A cgroup
 *    that names ids the runtime does not confirm is none as well (another runtime's
 *    container). Without any cgroup facts the namespace is **unresolved**.
 *
 * @module
 */
import type { CgroupSample } from "../bpf/event.ts";
import type { ContainerRecord, PodRecord } from "../runtime/record.ts";
import { cgroupPathAgrees, cgroupSegments, containerCandidates } from "../runtime/cgroup.ts";
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
  /** The task's cgroup names at the time of the event, when the kernel sent them. */
  cgroup?: CgroupSample;
}

/** What a mount namespace turned out to be, with how it was proven. */
export type Resolution =
  /** A container the runtime lists. */
  | { kind: "container"; record: ContainerRecord; proof: string }
  /** A pod sandbox's own process (pause): the pod's, no container. */
  | { kind: "sandbox"; pod: PodRecord; proof: string }
  /** No container of this runtime: the host, or a container the runtime does not know. */
  | { kind: "none"; reason: string }
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
    const segments = await this.#segments(facts);
    if (segments !== undefined) {
      const candidates = containerCandidates(segments);
      for (const [index, candidate] of candidates.entries()) {
        // Only the innermost id may be a container still being created: ask twice.
        const workload = await this.#workload(candidate.containerId, index === 0);
        if (workload && cgroupPathAgrees(workload.cgroupPaths, segments, candidate)) {
          const proof = `cgroup ${short(candidate.containerId)}`;
          return workload.kind === "container"
            ? { kind: "container", record: workload.record, proof }
            : { kind: "sandbox", pod: workload.pod, proof };
        }
      }
      const record = await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs);
      if (record) return { kind: "container", record, proof: "mount namespace" };
      const where = `cgroup "/${segments.join("/")}"`;
      return candidates.length === 0
        ? { kind: "none", reason: `${where} is no container's` }
        : { kind: "none", reason: `${where} names no container the runtime confirms` };
    }
    const record = await this.#lookup.runningIn(facts.mntnsId, facts.tsBootNs);
    if (record) return { kind: "container", record, proof: "mount namespace" };
    return { kind: "unresolved", reason: `process ${facts.pid} left no cgroup to look at` };
  }

  /**
   * The cgroup path's segments, from the kernel's sample (whatever levels it holds), else
   * from /proc while the process still lives in the namespace.
   */
  async #segments(facts: NamespaceFacts): Promise<string[] | undefined> {
    if (facts.cgroup) return facts.cgroup.segments;
    try {
      const path = await cgroupPathOfPid(facts.pid, this.#procRoot);
      // The pid may have been reused by another process since: it must be in the namespace.
      const mntns = await mountNamespaceIdOfPid(facts.pid, this.#procRoot);
      return mntns === facts.mntnsId ? cgroupSegments(path) : undefined;
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

function short(id: string): string {
  return id.slice(0, 13);
}
