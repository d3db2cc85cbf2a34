/**
 * The event pipeline between the perf buffer and the output: keeps kernel order, joins each
 * event with its container through the {@linkcode EnrichmentCache}, lets an event of a
 * just-seen namespace wait a bounded time for its one resolution, and counts.
 *
 * Events are pushed synchronously from the perf buffer callback; one consumer loop drains
 * them in order, so an event waiting for resolution holds back later ones (order is part of
 * the output contract) but never the perf buffer itself.
 *
 * @module
 */
import type { ProcessEvent } from "../bpf/event.ts";
import type { ContainerRecord } from "../runtime/record.ts";
import type { EnrichmentCache } from "./cache.ts";

/** An event joined with its container; `record` is null for host processes and unresolved ones. */
export interface EnrichedEvent {
  event: ProcessEvent;
  record: ContainerRecord | null;
  /** True when the container could not be found within the wait bound. */
  unresolved: boolean;
}

/** Counters shown in the end-of-trace summary. */
export interface PipelineCounts {
  /** Samples received from the kernel. */
  seen: number;
  /** Events handed to the output. */
  printed: number;
  /** Events of namespaces not selected (sent before the kernel had the verdict). */
  filtered: number;
  /** Events printed without a container because resolution did not finish in time. */
  unresolved: number;
  /** Samples the kernel dropped (perf buffer full), from libbpf's lost callback. */
  lost: number;
}

/** Options of {@linkcode EventPipeline}. */
export interface PipelineOptions {
  cache: EnrichmentCache;
  /** Receives each printed event, in kernel order. Returns false to stop (e.g. `--count`). */
  emit: (event: EnrichedEvent) => boolean;
  /** How long an event waits for its namespace's resolution, in ms. Default 2000. */
  resolveWaitMs?: number;
  /** Called with a resolution failure (a CRI error); the event is printed unresolved. */
  onError?: (error: unknown) => void;
}

/** Ordered, bounded-wait enrichment of kernel events. */
export class EventPipeline {
  readonly counts: PipelineCounts = { seen: 0, printed: 0, filtered: 0, unresolved: 0, lost: 0 };
  readonly #queue: ProcessEvent[] = [];
  readonly #options: PipelineOptions;
  #draining: Promise<void> = Promise.resolve();
  #running = false;
  #stopped = false;

  constructor(options: PipelineOptions) {
    this.#options = options;
  }

  /** True once `emit` asked to stop. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Queues a decoded sample (called from the perf buffer callback). */
  push(event: ProcessEvent): void {
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
        let entry = cache.lookup(event.mntnsId);
        if (
          entry && event.mntnsUnknown && entry.decidedAtBootNs !== undefined &&
          event.tsBootNs > entry.decidedAtBootNs
        ) {
          // The kernel no longer has our verdict: the namespace ended and its id now names
          // another one (ids are reused). Look it up afresh.
          cache.forget(event.mntnsId);
          entry = undefined;
        }
        let unresolved = false;
        if (!entry) {
          entry = await this.#waitForResolution(event);
          unresolved = entry === undefined;
        }
        this.#queue.shift();
        if (entry && !entry.selected) {
          this.counts.filtered++;
          continue;
        }
        if (unresolved) this.counts.unresolved++;
        this.counts.printed++;
        const record = entry?.record ?? null;
        if (!this.#options.emit({ event, record, unresolved })) this.#stopped = true;
        // The container's init ended: its namespace id may be reused by the kernel.
        if (event.type === "exit" && record && record.pid === event.pid) {
          cache.forget(event.mntnsId);
        }
      }
    } finally {
      // Runs in the same turn as the loop's last emptiness check (no await in between), so
      // a push() can never find #running set by a loop that has already ended.
      this.#running = false;
    }
  }

  async #waitForResolution(event: ProcessEvent) {
    const { cache, resolveWaitMs = 2000 } = this.#options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), resolveWaitMs);
    });
    try {
      return await Promise.race([cache.resolve(event.mntnsId, event.pid), timeout]);
    } catch (error) {
      this.#options.onError?.(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
