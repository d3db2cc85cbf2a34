/**
 * Reading a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` without blocking Deno's event loop.
 *
 * libbpf's perf_buffer maps one ring per CPU and gathers their fds into one epoll fd.
 * The wait (epoll_wait(2)) runs on a worker thread as a `nonblocking` FFI call, bounded to
 * {@linkcode MAX_WAIT_MS} per call so a stop flag or {@linkcode PerfReader.close} is seen
 * within that time; draining reads each CPU's ring in JavaScript (perf_ring.ts) on the
 * main thread: libbpf-bootstrap's `perf_buffer__poll(pb, 100)` loop (100 ms), split in two.
 *
 * @module
 */

import type { Libbpf, PerfBuffer } from "./libbpf.ts";
import { PerfRing } from "./perf_ring.ts";

/** Longest single epoll_wait, in milliseconds: bounds how late close or a stop flag is seen. */
export const MAX_WAIT_MS = 100;
/**
 * While samples keep coming, drain on a timer instead of waking on each one: every wake-up
 * of the event loop costs far more than handling a sample (measured here: ~150-400 µs of
 * CPU per wake-up of an idle Deno process, 50 µs even for a C program's usleep, against
 * ~3 µs to decode a sample). The interval starts at {@linkcode BATCH_INTERVAL_MS} and
 * doubles up to {@linkcode MAX_BATCH_INTERVAL_MS} while every drain finds samples; an empty
 * drain returns to epoll_wait. So an idle reader sleeps, the first event after a quiet spell
 * is delivered at once, and under load latency grows by at most the longest interval.
 * The interval also follows how full the fullest ring was when drained: above
 * {@linkcode TARGET_FILL} it shrinks in proportion (down to {@linkcode MIN_BATCH_INTERVAL_MS}),
 * so a storm of small samples (opens: ~1 700 per 256 KiB ring) is drained before a ring
 * overflows, while a slow stream keeps the long interval.
 * A 256 KiB ring per CPU holds ~700 short exec samples: ~14 000 execs/s per CPU at 50 ms.
 */
export const BATCH_INTERVAL_MS = 10;
/** Longest interval between drains under load, in milliseconds. */
export const MAX_BATCH_INTERVAL_MS = 50;
/** Shortest interval between timed drains, in milliseconds. */
export const MIN_BATCH_INTERVAL_MS = 1;
/** Fraction of a ring a drain should find filled at most (half of the room left for bursts). */
export const TARGET_FILL = 0.25;

/**
 * The next drain interval, ms: doubled (up to the maximum) while the fullest ring was found
 * at most {@linkcode TARGET_FILL} full, else scaled down so that it would have been.
 *
 * @param intervalMs the interval that led to this drain
 * @param fill the fullest ring's used fraction when the drain began (0 to 1)
 */
export function nextBatchInterval(intervalMs: number, fill: number): number {
  if (fill <= TARGET_FILL) return Math.min(intervalMs * 2, MAX_BATCH_INTERVAL_MS);
  return Math.max(MIN_BATCH_INTERVAL_MS, Math.floor(intervalMs * TARGET_FILL / fill));
}
/** struct epoll_event is 12 bytes on x86-64 (packed); room for 64 ready rings. */
const EPOLL_EVENTS_BYTES = 12 * 64;

/**
 * Called once per sample, synchronously, with its bytes: a view of the ring, valid only
 * during the call (copy what you keep).
 */
export type SampleHandler = (cpu: number, sample: Uint8Array) => void;
/** Called when a CPU's ring overflowed: `count` samples were dropped by the kernel. */
export type LostHandler = (cpu: number, count: bigint) => void;

/** A perf buffer over one perf event array map; create, {@linkcode poll}, close. */
export class PerfReader implements Disposable {
  readonly #lib: Libbpf;
  readonly #pb: PerfBuffer;
  readonly #epollFd: number;
  readonly #rings: PerfRing[];
  // Referenced here, not only by the call: a wait in flight may outlive close().
  readonly #events = new Uint8Array(EPOLL_EVENTS_BYTES);
  #polling = false;
  /** Interval of the next timed drain, ms; 0 = not busy (the last drain found nothing). */
  #batchMs = 0;
  #closed = false;

  /**
   * Maps `pages` pages per CPU (a power of two: libbpf rejects others) of the perf event
   * array `mapFd`. Memory: pages × 4 KiB × online CPUs.
   *
   * @throws {BpfError} from perf_buffer__new (EINVAL for a bad page count).
   */
  constructor(lib: Libbpf, mapFd: number, pages: number) {
    this.#lib = lib;
    this.#pb = lib.newPerfBuffer(mapFd, pages);
    try {
      this.#epollFd = lib.perfBufferEpollFd(this.#pb);
      this.#rings = lib.perfBufferRings(this.#pb).map((mapping) => new PerfRing(mapping));
    } catch (error) {
      lib.freePerfBuffer(this.#pb);
      throw error;
    }
  }

  /** True once {@linkcode close} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits up to `timeoutMs` milliseconds for samples without blocking the event loop, then
   * drains every ring, calling the handlers synchronously. Returns as soon as one wait
   * delivered something; resolves to the number of samples delivered (0 after close).
   *
   * @throws {Error} when another poll is running, when draining failed, or the first
   * error a handler threw (rethrown after the drain, the other samples still delivered).
   */
  async poll(timeoutMs: number, onSample: SampleHandler, onLost: LostHandler): Promise<number> {
    if (this.#closed) return 0;
    if (this.#polling) throw new Error("Cannot poll the perf buffer: a poll is already running");
    this.#polling = true;
    try {
      if (this.#batchMs > 0) {
        const wait = Math.min(this.#batchMs, timeoutMs);
        await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.#closed) return 0;
        const fill = this.#fullestRing();
        const delivered = this.#drain(onSample, onLost);
        if (delivered > 0) {
          this.#batchMs = nextBatchInterval(this.#batchMs, fill);
          return delivered;
        }
        this.#batchMs = 0;
      }
      const deadline = Date.now() + Math.max(0, timeoutMs);
      for (;;) {
        const wait = Math.min(MAX_WAIT_MS, Math.max(0, deadline - Date.now()));
        const ready = await this.#lib.epollWait(this.#epollFd, this.#events, wait);
        if (this.#closed) return 0;
        // -1 is EINTR (a signal hit the worker thread): drain anyway, it is cheap.
        if (ready !== 0) {
          const delivered = this.#drain(onSample, onLost);
          if (delivered > 0) {
            this.#batchMs = BATCH_INTERVAL_MS;
            return delivered;
          }
        }
        if (Date.now() >= deadline) return 0;
      }
    } finally {
      this.#polling = false;
    }
  }

  /** The used fraction of the fullest ring (0 to 1). */
  #fullestRing(): number {
    let fill = 0;
    for (const ring of this.#rings) fill = Math.max(fill, ring.pending / ring.capacity);
    return fill;
  }

  /**
   * Reads every ring in JavaScript (see perf_ring.ts): no call into C per sample, which is
   * what libbpf's perf_buffer__consume would cost us through an FFI callback each.
   */
  #drain(onSample: SampleHandler, onLost: LostHandler): number {
    let delivered = 0;
    let failure: unknown = null;
    this.#rings.forEach((ring, cpu) => {
      delivered += ring.read((sample) => {
        try {
          onSample(cpu, sample);
        } catch (error) {
          // Keep reading: the ring's space must be freed either way; report the first.
          failure ??= error;
        }
      }, (count) => onLost(cpu, BigInt(count)));
    });
    if (failure !== null) throw failure;
    return delivered;
  }

  /**
   * Frees the rings and the callbacks. Idempotent. Safe while a {@linkcode poll} is
   * pending: the wait in flight holds the kernel's epoll object and this reader's buffer
   * only, ends within {@linkcode MAX_WAIT_MS}, and its poll then resolves to 0.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.freePerfBuffer(this.#pb);
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
