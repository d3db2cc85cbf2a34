import assert from "node:assert/strict";
import { findRecord, parseInspectTarget } from "../../src/cli/inspect.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { NotFoundError, UsageError } from "../../src/errors.ts";

const rec = (id: string, cgroupId: number, mntnsId: number) =>
  ({
    id,
    name: `c-${id.slice(0, 2)}`,
    pod: { namespace: "demo", name: "foo" },
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
  assert.deepEqual(parseInspectTarget("cgroup:253"), { kind: "cgroup", cgroupId: 253 });
  for (const bad of ["", "XYZ", "pid:", "pid:-1", "cgroup:x", "g".repeat(3), "a".repeat(65)]) {
    assert.throws(() => parseInspectTarget(bad), UsageError, bad);
  }
});

Deno.test("findRecord() finds unique prefixes and names the candidates of ambiguous ones", () => {
  assert.equal(findRecord(records, { kind: "prefix", prefix: "cd" }).id, records[2]!.id);
  assert.throws(
    () => findRecord(records, { kind: "prefix", prefix: "ab" }),
    (error: Error) =>
      error instanceof NotFoundError &&
      error.message ===
        'Ambiguous container "ab": matches ab12000000000 (demo/foo/c-ab), ab34000000000 (demo/foo/c-ab)',
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
  assert.equal(findRecord(records, { kind: "cgroup", cgroupId: 11 }).id, records[1]!.id);
});
