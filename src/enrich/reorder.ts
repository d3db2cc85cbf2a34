/**
 * Putting kernel samples back in time order before they are joined and printed.
 *
 * The kernel writes each sample into the perf ring of the CPU it ran on, and a drain reads
 * the rings one after the other, so two events of one process tree that ran on different
 * CPUs (a shell's exec on CPU 0, its child's on CPU 1) can come out of a drain in either
 * order. Within a drain the samples are sorted by their CLOCK_BOOTTIME timestamp. Across
 * drains, a sample whose timestamp is at least {@linkcode REORDER_MARGIN_NS} before the
 * drain started was in its ring when the drain began (a BPF program writes its sample
 * microseconds after reading the clock), so it cannot be overtaken by a later one; younger
 * samples are held for the next drain. The cost is latency: at most one drain interval
 * (10 to 100 ms) plus the margin.
 *
 * @module
 */

/** How long before a drain's start a sample must be to be released by it, in ns (10 ms). */
export const REORDER_MARGIN_NS = 10_000_000n;

/** Holds samples until no earlier one can still arrive; releases them in time order. */
export class ReorderBuffer<T extends { tsBootNs: bigint }> {
  #held: T[] = [];
  #sorted = true;

  /** Number of samples held. */
  get size(): number {
    return this.#held.length;
  }

  /** Adds a sample of the current drain. */
  add(sample: T): void {
    const last = this.#held.at(-1);
    if (last && sample.tsBootNs < last.tsBootNs) this.#sorted = false;
    this.#held.push(sample);
  }

  /**
   * Removes and returns, oldest first, every held sample whose timestamp is at most
   * `untilBootNs` (CLOCK_BOOTTIME ns). Samples with equal timestamps keep their order of
   * arrival (a cgroup sample stays before the event it describes).
   */
  release(untilBootNs: bigint): T[] {
    if (!this.#sorted) {
      this.#held.sort((a, b) => (a.tsBootNs < b.tsBootNs ? -1 : a.tsBootNs > b.tsBootNs ? 1 : 0));
      this.#sorted = true;
    }
    let count = 0;
    while (count < this.#held.length && this.#held[count]!.tsBootNs <= untilBootNs) count++;
    return count === 0 ? [] : this.#held.splice(0, count);
  }

  /** Removes and returns every held sample, oldest first (the trace is ending). */
  releaseAll(): T[] {
    return this.release(BigInt.asUintN(64, -1n));
  }
}
