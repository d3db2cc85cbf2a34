/**
 * One CPU's perf ring, read directly from its mmap()'ed memory: the records the kernel
 * writes between `data_tail` and `data_head`, decoded in JavaScript without a call into C
 * per sample.
 *
 * Layout (include/uapi/linux/perf_event.h): the first page is `struct perf_event_mmap_page`
 * (`data_head` at byte 1024, `data_tail` at 1032, `data_offset` at 1040, `data_size` at
 * 1048); the data area that follows is a power-of-two ring of records, each starting with
 * `struct perf_event_header { u32 type; u16 misc; u16 size; }` and 8-byte aligned. libbpf's
 * perf buffer asks for `PERF_SAMPLE_RAW`, so a sample is `{ header; u32 size; u8 data[size] }`
 * and a loss report is `PERF_RECORD_LOST { header; u64 id; u64 lost; }`.
 *
 * Ordering: `data_head` is read with `Atomics.load` before the records and `data_tail` is
 * written with `Atomics.store` after them — the reader's half of the protocol the kernel
 * documents in perf_event.h (smp_rmb after reading head, smp_mb before writing tail); on
 * x86-64 sequentially consistent atomics give both. This is what libbpf's
 * `perf_buffer__consume` does in C, minus one FFI callback per sample.
 *
 * @module
 */

/** `PERF_RECORD_LOST`: the kernel dropped samples because the ring was full. */
export const PERF_RECORD_LOST = 2;
/** `PERF_RECORD_SAMPLE`. */
export const PERF_RECORD_SAMPLE = 9;

const DATA_HEAD_INDEX = 1024 / 8;
const DATA_TAIL_INDEX = 1032 / 8;
const DATA_OFFSET = 1040;
const DATA_SIZE = 1048;
/** Largest record: its size field is a u16. */
const MAX_RECORD_BYTES = 0xffff;

/** Reads one mmap()'ed perf ring. */
export class PerfRing {
  readonly #control: BigUint64Array<ArrayBuffer>;
  readonly #bytes: Uint8Array<ArrayBuffer>;
  readonly #view: DataView<ArrayBuffer>;
  readonly #size: number;
  readonly #mask: number;
  readonly #scratch: Uint8Array<ArrayBuffer> = new Uint8Array(MAX_RECORD_BYTES);

  /**
   * @param mapping the whole mapping: the control page then the data area, as
   * `perf_buffer__buffer` describes it (or a test's own buffer of the same layout).
   * @throws {RangeError} when the control page's data_offset/data_size do not fit the
   * mapping or the size is not a power of two.
   */
  constructor(mapping: ArrayBuffer) {
    const header = new DataView(mapping);
    const offset = Number(header.getBigUint64(DATA_OFFSET, true));
    const size = Number(header.getBigUint64(DATA_SIZE, true));
    if (
      offset < 4096 || size === 0 || (size & (size - 1)) !== 0 || offset + size > mapping.byteLength
    ) {
      throw new RangeError(
        `Cannot read perf ring: data_offset ${offset} and data_size ${size} do not fit a ${mapping.byteLength}-byte mapping`,
      );
    }
    this.#control = new BigUint64Array(mapping, 0, 4096 / 8);
    this.#bytes = new Uint8Array(mapping, offset, size);
    this.#view = new DataView(mapping, offset, size);
    this.#size = size;
    this.#mask = size - 1;
  }

  /** Bytes of the ring's data area (a power of two). */
  get capacity(): number {
    return this.#size;
  }

  /** Bytes written and not yet read. */
  get pending(): number {
    return Number(Atomics.load(this.#control, DATA_HEAD_INDEX) - this.#control[DATA_TAIL_INDEX]!);
  }

  /**
   * Hands every complete record to the handlers, then frees their space for the kernel.
   * A sample's bytes are a view of the ring (or of a scratch buffer for one that wraps
   * around its end): valid only during the call — copy what you keep.
   * Returns the number of samples read.
   */
  read(
    onSample: (sample: Uint8Array<ArrayBuffer>) => void,
    onLost: (count: number) => void,
  ): number {
    const head = Number(Atomics.load(this.#control, DATA_HEAD_INDEX));
    let tail = Number(this.#control[DATA_TAIL_INDEX]!);
    let samples = 0;
    try {
      while (tail < head) {
        const start = tail & this.#mask;
        // Records are 8-byte aligned in a ring of a power-of-two size: a header never wraps.
        const type = this.#view.getUint32(start, true);
        const size = this.#view.getUint16(start + 6, true);
        if (size < 8) break; // corrupt: stop rather than spin (the next read retries)
        const record = start + size <= this.#size
          ? this.#bytes.subarray(start, start + size)
          : this.#unwrap(start, size);
        const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
        // Counted as read before the handler runs, so a throwing handler cannot make the
        // same record come back forever; the kernel gets the space only in `finally`.
        tail += size;
        if (type === PERF_RECORD_SAMPLE && size >= 12) {
          const rawSize = Math.min(view.getUint32(8, true), size - 12);
          samples++;
          onSample(record.subarray(12, 12 + rawSize));
        } else if (type === PERF_RECORD_LOST && size >= 24) {
          onLost(Number(view.getBigUint64(16, true)));
        }
      }
    } finally {
      Atomics.store(this.#control, DATA_TAIL_INDEX, BigInt(tail));
    }
    return samples;
  }

  /** Copies a record that runs past the end of the ring into one contiguous buffer. */
  #unwrap(start: number, size: number): Uint8Array<ArrayBuffer> {
    const first = this.#size - start;
    this.#scratch.set(this.#bytes.subarray(start), 0);
    this.#scratch.set(this.#bytes.subarray(0, size - first), first);
    return this.#scratch.subarray(0, size);
  }
}
