import assert from "node:assert/strict";
import { findRecord, parseInspectTarget } from "../../src/cli/inspect.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { NotFoundError, UsageError } from "../../src/errors.ts";

const rec = (id: string, cgroupId: number, mntnsId: number) =>
  ({
    id,
    name: `c-${id.slice(0, 2)}`,
    pod: { namespace: "demo", name: "foo" },
    runtime: "containerd",
    cgroup_id: cgroupId,
    mntns_id: mntnsId,
  }) as unknown as ContainerRecord;

const records = [
  rec("ab12".padEnd(64, "0"), 10, 100),
  rec("ab34".padEnd(64, "0"), 11, 101),
  rec("cd56".padEnd(64, "0"), 12, 102),
];

Deno.test("parseInspectTarget() reads prefixes, pid:N and cgroup:ID", () => {
  assert.deepEqual(parseInspectTarget("ab12"), { kind: "prefix", prefix: "ab12" });
  assert.deepEqual(parseInspectTarget("pid:42"), { kind: "pid", pid: 42 });
  assert.deepEqual(parseInspectTarget("cgroup:253"), { kind: "cgroup", cgroupId: 253n });
  assert.deepEqual(parseInspectTarget("web"), { kind: "name", name: "web" });
  assert.deepEqual(parseInspectTarget("shop_web-1.x"), { kind: "name", name: "shop_web-1.x" });
  for (const bad of ["", "a b", "web!", "_x", "-x", "/web", "x".repeat(254)]) {
    assert.throws(
      () => parseInspectTarget(bad),
      (e: Error) =>
        e instanceof UsageError &&
        e.message ===
          `Invalid container reference "${bad}": expected a hex id or prefix, a name, pid:N or cgroup:ID`,
    );
  }
});

Deno.test("parseInspectTarget() refuses pid 0, negative, garbage and out-of-range pids", () => {
  assert.deepEqual(parseInspectTarget("pid:1"), { kind: "pid", pid: 1 });
  assert.deepEqual(parseInspectTarget("pid:4194304"), { kind: "pid", pid: 4194304 });
  for (const bad of ["0", "-1", "", "x", "1.5", "007", "4194305", "99999999999999999999"]) {
    assert.throws(
      () => parseInspectTarget(`pid:${bad}`),
      (e: Error) =>
        e instanceof UsageError &&
        e.message === `Invalid pid "${bad}" in "pid:${bad}": expected a number from 1 to 4194304`,
    );
  }
});

Deno.test("parseInspectTarget() parses cgroup ids as exact u64 values", () => {
  // 2^53 + 1 is not a double: it must survive as itself.
  assert.deepEqual(parseInspectTarget("cgroup:9007199254740993"), {
    kind: "cgroup",
    cgroupId: 9007199254740993n,
  });
  assert.deepEqual(parseInspectTarget("cgroup:18446744073709551615"), {
    kind: "cgroup",
    cgroupId: 18446744073709551615n,
  });
  for (const bad of ["0", "-1", "", "x", "0x10", "18446744073709551616", "1".repeat(30)]) {
    assert.throws(
      () => parseInspectTarget(`cgroup:${bad}`),
      (e: Error) =>
        e instanceof UsageError &&
        e.message ===
          `Invalid cgroup id "${bad}" in "cgroup:${bad}": expected a number from 1 to 2^64-1`,
    );
  }
});

Deno.test("findRecord() finds unique prefixes and names the candidates of ambiguous ones", () => {
  assert.equal(findRecord(records, { kind: "prefix", prefix: "cd" }).id, records[2]!.id);
  assert.throws(
    () => findRecord(records, { kind: "prefix", prefix: "ab" }),
    (error: Error) =>
      error instanceof NotFoundError &&
      error.message ===
        'Ambiguous container "ab": matches ab12000000000 (demo/foo/c-ab, containerd), ab34000000000 (demo/foo/c-ab, containerd)',
  );
  assert.throws(() => findRecord(records, { kind: "prefix", prefix: "ef" }), NotFoundError);
});

Deno.test("findRecord() matches pids by container id, then by mount namespace", () => {
  assert.equal(
    findRecord(records, { kind: "pid", pid: 7 }, { containerId: records[1]!.id }).id,
    records[1]!.id,
  );
  assert.equal(findRecord(records, { kind: "pid", pid: 7 }, { mntnsId: 102 }).id, records[2]!.id);
  assert.throws(() => findRecord(records, { kind: "pid", pid: 7 }, { mntnsId: 5 }), NotFoundError);
  assert.equal(findRecord(records, { kind: "cgroup", cgroupId: 11n }).id, records[1]!.id);
  // Compared as u64: a record's id beyond 2^53 - 1 is not exact, so it proves nothing, and an
  // id that rounds to a record's as a double does not match it.
  const big = [
    rec("ef78".padEnd(64, "0"), 2 ** 53 - 1, 103),
    rec("ef90".padEnd(64, "0"), 2 ** 53, 104),
  ];
  assert.equal(findRecord(big, { kind: "cgroup", cgroupId: 2n ** 53n - 1n }).id, big[0]!.id);
  assert.throws(() => findRecord(big, { kind: "cgroup", cgroupId: 2n ** 53n + 1n }), NotFoundError);
});
