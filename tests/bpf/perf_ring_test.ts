/**
 * PerfRing over a buffer laid out as the kernel lays out a perf mmap (control page + data
 * ring), filled with records written the way the kernel writes them, wrap-around included.
 */
import assert from "node:assert/strict";
import { PERF_RECORD_LOST, PERF_RECORD_SAMPLE, PerfRing } from "../../src/bpf/perf_ring.ts";
import {
  MAX_BATCH_INTERVAL_MS,
  MIN_BATCH_INTERVAL_MS,
  nextBatchInterval,
} from "../../src/bpf/perf_reader.ts";

const PAGE = 4096;

/** A fake mapping with a `dataSize`-byte ring and a writer that plays the kernel. */
function fakeMapping(dataSize: number) {
  const mapping = new ArrayBuffer(PAGE + dataSize);
  const control = new DataView(mapping);
  control.setBigUint64(1040, BigInt(PAGE), true);
  control.setBigUint64(1048, BigInt(dataSize), true);
  const data = new Uint8Array(mapping, PAGE, dataSize);
  let head = 0;
  const writeRecord = (record: Uint8Array) => {
    for (let i = 0; i < record.length; i++) data[(head + i) % dataSize] = record[i]!;
    head += record.length;
    control.setBigUint64(1024, BigInt(head), true);
  };
  return {
    mapping,
    tail: () => Number(control.getBigUint64(1032, true)),
    sample(payload: Uint8Array) {
      const size = Math.ceil((12 + payload.length) / 8) * 8;
      const record = new Uint8Array(size);
      const view = new DataView(record.buffer);
      view.setUint32(0, PERF_RECORD_SAMPLE, true);
      view.setUint16(6, size, true);
      view.setUint32(8, payload.length, true);
      record.set(payload, 12);
      writeRecord(record);
    },
    lost(count: number) {
      const record = new Uint8Array(32);
      const view = new DataView(record.buffer);
      view.setUint32(0, PERF_RECORD_LOST, true);
      view.setUint16(6, 32, true);
      view.setBigUint64(8, 7n, true); // id
      view.setBigUint64(16, BigInt(count), true);
      writeRecord(record);
    },
  };
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("PerfRing.read() hands over samples and lost counts, then frees their space", () => {
  const fake = fakeMapping(256);
  fake.sample(bytes("first"));
  fake.lost(5);
  fake.sample(bytes("second sample"));
  const ring = new PerfRing(fake.mapping);
  assert.equal(ring.pending, 24 + 32 + 32);
  const seen: string[] = [];
  const lost: number[] = [];
  assert.equal(ring.read((s) => seen.push(text(s)), (n) => lost.push(n)), 2);
  assert.deepEqual(seen, ["first", "second sample"]);
  assert.deepEqual(lost, [5]);
  assert.equal(fake.tail(), 88);
  assert.equal(ring.pending, 0);
  assert.equal(ring.read(() => assert.fail("nothing new"), () => {}), 0);
});

Deno.test("PerfRing.read() reassembles a record that wraps around the ring's end", () => {
  const fake = fakeMapping(64);
  const ring = new PerfRing(fake.mapping);
  fake.sample(bytes("a".repeat(28))); // 40 bytes
  ring.read(() => {}, () => {});
  fake.sample(bytes("wrapping-payload-xyz")); // 32 bytes from offset 40: wraps at 64
  const seen: string[] = [];
  ring.read((s) => seen.push(text(s)), () => {});
  assert.deepEqual(seen, ["wrapping-payload-xyz"]);
  assert.equal(fake.tail(), 72);
});

Deno.test("PerfRing.read() frees the space even when a handler throws", () => {
  const fake = fakeMapping(256);
  fake.sample(bytes("boom"));
  const ring = new PerfRing(fake.mapping);
  assert.throws(() =>
    ring.read(() => {
      throw new Error("handler");
    }, () => {}), /handler/);
  assert.equal(ring.pending, 0);
});

Deno.test("new PerfRing() rejects a control page that does not fit the mapping", () => {
  const mapping = new ArrayBuffer(PAGE + 100);
  const control = new DataView(mapping);
  control.setBigUint64(1040, BigInt(PAGE), true);
  control.setBigUint64(1048, 100n, true); // not a power of two
  assert.throws(() => new PerfRing(mapping), RangeError);
  control.setBigUint64(1048, 128n, true); // larger than the mapping
  assert.throws(() => new PerfRing(mapping), RangeError);
});

Deno.test("nextBatchInterval() backs off while rings stay light and drains sooner as they fill", () => {
  assert.equal(nextBatchInterval(10, 0), 20);
  assert.equal(nextBatchInterval(40, 0.25), MAX_BATCH_INTERVAL_MS);
  assert.equal(nextBatchInterval(40, 0.5), 20, "half full: half the interval");
  assert.equal(nextBatchInterval(50, 1), 12);
  assert.equal(nextBatchInterval(2, 0.9), MIN_BATCH_INTERVAL_MS);
});
