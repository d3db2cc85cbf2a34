import assert from "node:assert/strict";
import { REORDER_MARGIN_NS, ReorderBuffer } from "../../src/enrich/reorder.ts";

const at = (ts: number, tag: string) => ({ tsBootNs: BigInt(ts), tag });

Deno.test("ReorderBuffer releases a drain's samples in time order, equal times in arrival order", () => {
  const buffer = new ReorderBuffer<ReturnType<typeof at>>();
  // Ring of CPU 0 read first, then CPU 1's: the child's exec ran on CPU 0 after its
  // parent's on CPU 1.
  for (
    const s of [at(30, "child exec"), at(40, "child exit"), at(10, "cgroup"), at(10, "sh exec")]
  ) {
    buffer.add(s);
  }
  assert.deepEqual(buffer.release(35n).map((s) => s.tag), ["cgroup", "sh exec", "child exec"]);
  assert.equal(buffer.size, 1);
  buffer.add(at(38, "late from CPU 1"));
  assert.deepEqual(buffer.releaseAll().map((s) => s.tag), ["late from CPU 1", "child exit"]);
  assert.equal(buffer.size, 0);
});

Deno.test("REORDER_MARGIN_NS is 10 ms", () => {
  assert.equal(REORDER_MARGIN_NS, 10_000_000n);
});
