/**
 * The event pipeline between the perf buffer and the output: keeps kernel order, joins each
 * event with its container through the {@linkcode EnrichmentCache}, lets an event of a
 * just-seen namespace wait a bounded time for its one resolution, and counts.
 *
 * Under a named selection (`--pod`, `-n`, `--container`, `-l`) an event whose namespace
 * could not be resolved is never printed: only what is proven to be the selection's is.
 * With `--all` or `--host` it is printed, flagged `unresolved`.
 *
 * Events are pushed synchronously from the perf buffer callback; one consumer loop drains
 * them in order, so an event waiting for resolution holds back later ones (order is part of
 * the output contract) but never the perf buffer itself.
 *
 * @module
 */
import {
  type CgroupSample,
  type KernelSample,
  ownerFactsBootNs,
  type TraceEvent,
} from "../bpf/event.ts";
import type { ContainerRecord, PodRecord } from "../runtime/record.ts";
import type { EnrichmentCache, NamespaceEntry } from "./cache.ts";

/** An event joined with its container and pod. */
export interface EnrichedEvent {
  event: TraceEvent;
  /** The container; null for host processes, sandbox processes and unresolved ones. */
  record: ContainerRecord | null;
  /** The pod: the container's or the sandbox's; null for host and unresolved processes. */
  pod: PodRecord | null;
  /** True for a process of the pod sandbox itself (pause), which has no container. */
  sandbox: boolean;
  /** True when nothing could be established within the wait bound (`--all`/`--host` only). */
  unresolved: boolean;
}

/**
 * runc's setup tasks, as `runc init` renames them (runc `libcontainer/nsenter/nsexec.c`):
 * `runc:[0:PARENT]`, `runc:[1:CHILD]`, `runc:[2:INIT]`. They are forks of `runc init`, never
 * exec'd inside the container, so they show as exits, and as the opens `runc:[2:INIT]` makes
 * in the container while setting it up (/proc, /etc/passwd) before it execs the entrypoint;
 * `runc:[1:CHILD]` joins the container's mount namespace before it exits, at every `kubectl
 * exec`. Recognised by any event but an exec of a task with such a name that neither it nor
 * its parent exec'd in a container during the trace (`execdInContainers`): a workload
 * process that renames itself so (`/proc/self/comm`) is still printed, unless it and its
 * parent are forks that never exec'd while traced. When exec events are not traced
 * (`execTraced` false: `--events` without exec) the name alone decides: a workload that
 * renames itself so then has its events hidden too (a missed event, never a wrong one).
 */
export function isRuntimeHelper(
  event: TraceEvent,
  execdInContainers: ReadonlySet<number> = new Set(),
  execTraced = true,
): boolean {
  if (event.type === "exec" || !RUNC_HELPER_COMM.test(event.comm)) return false;
  return !execTraced ||
    (!execdInContainers.has(event.pid) && !execdInContainers.has(event.ppid));
}

const RUNC_HELPER_COMM = /^runc:\[[0-2]:[A-Z]+\]$/;

/** Counters shown in the end-of-trace summary. */
export interface PipelineCounts {
  /** Samples received from the kernel. */
  seen: number;
  /** Events handed to the output. */
  printed: number;
  /** Events of namespaces not selected (sent before the kernel had the verdict). */
  filtered: number;
  /** Events printed flagged `unresolved` (`--all`/`--host`). */
  unresolved: number;
  /** Events not printed because they could not be proven to be the named selection's. */
  unproven: number;
  /** Exits of the container runtime's setup tasks, not printed (see {@linkcode isRuntimeHelper}). */
  helpers: number;
  /** Samples the kernel dropped (perf buffer full), from libbpf's lost callback. */
  lost: number;
}

/** Options of {@linkcode EventPipeline}. */
export interface PipelineOptions {
  cache: EnrichmentCache;
  /** Receives each printed event, in kernel order. Returns false to stop (e.g. `--count`). */
  emit: (event: EnrichedEvent) => boolean;
  /** Converts an event's CLOCK_BOOTTIME ns to ns since the epoch (the tracer's clocks). */
  wallClockNs: (bootNs: bigint) => bigint;
  /**
   * The host's mount namespace inode: the kernel sends its events only with `--host`, and
   * they are the host's by definition (no lookup).
   */
  hostMntnsId?: bigint;
  /** How long an event waits for its namespace's resolution, in ms. Default 2000. */
  resolveWaitMs?: number;
  /**
   * Print events that could not be resolved, flagged (`--all`, `--host`). False under a
   * named selection: they are counted as unproven and dropped.
   */
  printUnresolved: boolean;
  /** Print the exits of the runtime's setup tasks ({@linkcode isRuntimeHelper}). */
  showRuntimeHelpers?: boolean;
  /**
   * Exec events are traced, so a helper is told from a workload renamed like one by whether
   * it or its parent exec'd in a container. Default true; false: by its name alone.
   */
  execTraced?: boolean;
  /** Called with a resolution failure (a CRI error); the event counts as unresolved. */
  onError?: (error: unknown) => void;
  /** When set, receives one line per event dropped as unproven (`--debug`). */
  debug?: (line: string) => void;
}

/** Ordered, bounded-wait enrichment of kernel events. */
export class EventPipeline {
  readonly counts: PipelineCounts = {
    seen: 0,
    printed: 0,
    filtered: 0,
    unresolved: 0,
    unproven: 0,
    helpers: 0,
    lost: 0,
  };
  readonly #queue: TraceEvent[] = [];
  /** Pids that exec'd in a container during the trace and have not exited. */
  readonly #execd = new Set<number>();
  /** The latest cgroup sample of each namespace awaiting resolution, by serial. */
  readonly #cgroups = new Map<bigint, CgroupSample>();
  readonly #options: PipelineOptions;
  #draining: Promise<void> = Promise.resolve();
  #running = false;
  #stopped = false;
  #hurried = false;
  /** Ends the resolution wait in progress, if any. */
  #wake: (() => void) | undefined;

  constructor(options: PipelineOptions) {
    this.#options = options;
  }

  /** True once `emit` asked to stop. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Queues a decoded sample (called from the perf buffer callback). */
  push(event: KernelSample): void {
    if (event.type === "cgroup") {
      // Comes right before its event: kept for that namespace's resolution.
      this.#cgroups.set(event.mntnsSeq, event);
      return;
    }
    this.counts.seen++;
    if (this.#stopped) return;
    this.#queue.push(event);
    if (!this.#running) {
      this.#running = true;
      this.#draining = this.#drain();
    }
  }

  /** Adds samples the kernel lost. */
  addLost(count: number): void {
    this.counts.lost += count;
  }

  /** Resolves when every queued event has been handled. */
  async flush(): Promise<void> {
    while (this.#running) await this.#draining;
  }

  async #drain(): Promise<void> {
    const { cache } = this.#options;
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const event = this.#queue[0]!;
        if (event.mntnsId === this.#options.hostMntnsId) {
          this.#queue.shift();
          this.counts.printed++;
          const host = { event, record: null, pod: null, sandbox: false, unresolved: false };
          if (!this.#options.emit(host)) this.#stopped = true;
          continue;
        }
        let entry = cache.lookup(event.mntnsSeq);
        // Sent before the kernel had the verdict: its cgroup sample is not needed.
        if (entry && event.mntnsUnknown) this.#cgroups.delete(event.mntnsSeq);
        if (!entry) entry = await this.#waitForResolution(event);
        this.#queue.shift();
        if (entry?.shared) entry = this.#sharedEntry(entry, event);
        if (entry && !entry.selected) {
          // An unconfirmed container cgroup under a named selection: maybe the selection's.
          if (entry.unconfirmed && !this.#options.printUnresolved) {
            this.counts.unproven++;
            this.#options.debug?.(
              `not printed: ${event.type} of pid ${event.pid} (${event.comm}), ${entry.proof}`,
            );
          } else this.counts.filtered++;
          continue;
        }
        if (event.type === "exec" && (entry?.record || entry?.pod)) this.#execd.add(event.pid);
        const helper = !this.#options.showRuntimeHelpers &&
          isRuntimeHelper(event, this.#execd, this.#options.execTraced ?? true);
        if (event.type === "exit") this.#execd.delete(event.pid);
        if (helper) {
          this.counts.helpers++;
          continue;
        }
        if (!entry && !this.#options.printUnresolved) {
          this.counts.unproven++;
          this.#options.debug?.(
            `not printed: ${event.type} of pid ${event.pid} (${event.comm}), mount namespace ${event.mntnsId} unresolved`,
          );
          continue;
        }
        const unresolved = !entry || entry.unconfirmed;
        if (unresolved) this.counts.unresolved++;
        this.counts.printed++;
        const enriched: EnrichedEvent = {
          event,
          record: entry?.record ?? null,
          pod: entry?.pod ?? null,
          sandbox: entry?.sandbox ?? false,
          unresolved,
        };
        if (!this.#options.emit(enriched)) this.#stopped = true;
      }
    } finally {
      // Runs in the same turn as the loop's last emptiness check (no await in between), so
      // a push() can never find #running set by a loop that has already ended.
      this.#running = false;
    }
  }

  /**
   * The entry of one event in a namespace several containers share: the container whose
   * cgroup id the event carries, or an unconfirmed entry (no container proven) otherwise.
   */
  #sharedEntry(entry: NamespaceEntry, event: TraceEvent): NamespaceEntry {
    const owner = entry.shared!.get(event.cgroupId);
    if (owner) {
      return {
        ...entry,
        shared: undefined,
        record: owner.record,
        pod: owner.record.pod,
        selected: owner.selected,
      };
    }
    return {
      ...entry,
      shared: undefined,
      unconfirmed: true,
      selected: this.#options.printUnresolved,
    };
  }

  /**
   * Stops waiting for resolutions: the wait in progress ends now and later ones do not wait,
   * so {@linkcode flush} ends promptly (a trace's deadline is near). Events still unresolved
   * then are handled as unresolved.
   */
  hurry(): void {
    this.#hurried = true;
    this.#wake?.();
  }

  async #waitForResolution(event: TraceEvent) {
    const { cache, resolveWaitMs = 2000 } = this.#options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      this.#wake = () => resolve(undefined);
      timer = setTimeout(() => resolve(undefined), this.#hurried ? 0 : resolveWaitMs);
    });
    try {
      const cgroup = this.#cgroups.get(event.mntnsSeq);
      // A TCP event's process facts are its socket owner's, as of connect/accept.
      const factsBootNs = ownerFactsBootNs(event);
      const resolved = cache.resolve({
        mntnsSeq: event.mntnsSeq,
        mntnsId: event.mntnsId,
        pid: event.pid,
        tsBootNs: factsBootNs,
        wallTimeNs: this.#options.wallClockNs(factsBootNs),
        ...(cgroup ? { cgroup } : {}),
      });
      resolved.then((entry) => entry && this.#cgroups.delete(event.mntnsSeq), () => {});
      return await Promise.race([resolved, timeout]);
    } catch (error) {
      this.#options.onError?.(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
