/**
 * The pipeline's ordering, one-resolution-per-namespace, bounded-wait and proof rules. The
 * resolver here is a scripted stand-in (the real one is exercised by tests/cli/trace_test.ts
 * and tests/enrich/attribution_test.ts against containerd); events are built as the decoder
 * builds them.
 */
import assert from "node:assert/strict";
import { EnrichmentCache } from "../../src/enrich/cache.ts";
import { type EnrichedEvent, EventPipeline, isRuntimeHelper } from "../../src/enrich/pipeline.ts";
import type { ContainerResolver, NamespaceFacts, Resolution } from "../../src/enrich/resolver.ts";
import type { CgroupSample, ExecEvent } from "../../src/bpf/event.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";

function exec(pid: number, mntnsSeq: bigint): ExecEvent {
  return {
    type: "exec",
    tsBootNs: BigInt(pid),
    pid,
    tid: pid,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "sh",
    cgroupId: 1n,
    mntnsId: 4_026_532_000n + mntnsSeq,
    mntnsSeq,
    mntnsUnknown: true,
    binary: "/bin/sh",
    binaryTruncated: false,
    args: ["/bin/sh"],
    argsTruncated: false,
  };
}

function record(name: string, podName = "foo"): ContainerRecord {
  return {
    name,
    pid: 99,
    state: "running",
    labels: {},
    pod: { sandbox_id: "", name: podName, namespace: "demo", uid: "", labels: {} },
  } as unknown as ContainerRecord;
}

/** A resolver answering from a table after `delayMs`, recording what it was asked. */
function scriptedResolver(answers: Map<bigint, Resolution>, delayMs: number) {
  const calls: NamespaceFacts[] = [];
  const resolver = {
    resolve: async (facts: NamespaceFacts): Promise<Resolution> => {
      calls.push(facts);
      await new Promise((r) => setTimeout(r, delayMs));
      return answers.get(facts.mntnsSeq) ?? { kind: "unresolved", reason: "test" };
    },
  } as unknown as ContainerResolver;
  return { resolver, calls };
}

function cacheOf(resolver: ContainerResolver, selector: Record<string, unknown> = { pod: "foo" }) {
  return new EnrichmentCache(resolver, { selector, includeHost: false, onVerdict: () => {} });
}

Deno.test("EventPipeline emits in push order and resolves a new namespace once", async () => {
  const { resolver, calls } = scriptedResolver(
    new Map<bigint, Resolution>([
      [10n, { kind: "container", record: record("late"), proof: "cgroup" }],
      [5n, { kind: "container", record: record("app"), proof: "cgroup" }],
    ]),
    20,
  );
  const cache = cacheOf(resolver);
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache,
    printUnresolved: false,
    emit: (e) => (emitted.push(e), true),
  });
  pipeline.push(exec(1, 10n));
  pipeline.push(exec(2, 5n));
  pipeline.push(exec(3, 10n));
  // Pushes from later microtasks and timers, as the perf buffer callback makes them.
  await Promise.resolve().then(() => pipeline.push(exec(4, 10n)));
  await new Promise((r) => setTimeout(r, 30));
  pipeline.push(exec(5, 5n));
  await pipeline.flush();
  assert.deepEqual(emitted.map((e) => e.event.pid), [1, 2, 3, 4, 5]);
  assert.deepEqual(emitted.map((e) => e.record?.name), ["late", "app", "late", "late", "app"]);
  assert.deepEqual(calls.map((c) => c.mntnsSeq), [10n, 5n]);
  assert.equal(cache.resolutions, 2);
  assert.deepEqual(pipeline.counts, {
    seen: 5,
    printed: 5,
    filtered: 0,
    unresolved: 0,
    unproven: 0,
    helpers: 0,
    lost: 0,
  });
});

Deno.test("EventPipeline hands the namespace's cgroup sample to the resolver", async () => {
  const { resolver, calls } = scriptedResolver(
    new Map([[10n, { kind: "container", record: record("app"), proof: "cgroup" }]]),
    0,
  );
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache: cacheOf(resolver),
    printUnresolved: false,
    emit: () => true,
  });
  const sample: CgroupSample = {
    type: "cgroup",
    tsBootNs: 1n,
    pid: 1,
    cgroupId: 253n,
    mntnsId: 4_026_532_010n,
    mntnsSeq: 10n,
    segments: ["k8s.io", "a".repeat(64)],
    ids: [2n, 253n],
    complete: true,
    v1: false,
  };
  pipeline.push(sample);
  pipeline.push(exec(1, 10n));
  await pipeline.flush();
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0], {
    mntnsSeq: 10n,
    mntnsId: 4_026_532_010n,
    pid: 1,
    tsBootNs: 1n,
    wallTimeNs: 1n,
    cgroup: sample,
  });
  assert.equal(pipeline.counts.seen, 1, "a cgroup sample is not an event");
});

Deno.test("EventPipeline never strands an event pushed while the loop ends", async () => {
  const { resolver } = scriptedResolver(
    new Map([[5n, { kind: "container", record: record("app"), proof: "cgroup" }]]),
    0,
  );
  const cache = cacheOf(resolver, {});
  let emitted = 0;
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache,
    printUnresolved: true,
    emit: () => (emitted++, true),
  });
  for (let i = 0; i < 200; i++) {
    pipeline.push(exec(i, 5n));
    // Interleave microtask-timed pushes with the drain loop's own continuations.
    await Promise.resolve();
    if (i % 3 === 0) queueMicrotask(() => pipeline.push(exec(1000 + i, 5n)));
  }
  await new Promise((r) => setTimeout(r, 0));
  await pipeline.flush();
  assert.equal(emitted, pipeline.counts.seen);
  assert.equal(pipeline.counts.printed, pipeline.counts.seen);
});

function boundedWaitSetup(printUnresolved: boolean) {
  const { resolver } = scriptedResolver(
    new Map<bigint, Resolution>([
      [20n, { kind: "container", record: record("db", "bar"), proof: "cgroup" }],
      [30n, { kind: "none", reason: "host service" }],
    ]),
    10,
  );
  const slow = {
    resolve: (facts: NamespaceFacts) =>
      facts.mntnsSeq === 40n ? new Promise<Resolution>(() => {}) : resolver.resolve(facts),
  } as unknown as ContainerResolver;
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache: cacheOf(slow),
    resolveWaitMs: 50,
    printUnresolved,
    emit: (e) => (emitted.push(e), true),
  });
  pipeline.push(exec(1, 20n)); // pod bar: filtered
  pipeline.push(exec(2, 30n)); // host service: filtered (no --host)
  pipeline.push(exec(3, 40n)); // never resolves within 50 ms
  return { pipeline, emitted };
}

Deno.test("EventPipeline drops an unproven event under a named selection, and filters unselected ones", async () => {
  const { pipeline, emitted } = boundedWaitSetup(false);
  const started = Date.now();
  await pipeline.flush();
  assert.ok(Date.now() - started >= 45);
  assert.deepEqual(emitted, []);
  assert.deepEqual(pipeline.counts, {
    seen: 3,
    printed: 0,
    filtered: 2,
    unresolved: 0,
    unproven: 1,
    helpers: 0,
    lost: 0,
  });
});

Deno.test("EventPipeline prints an unresolved event flagged under --all", async () => {
  const { pipeline, emitted } = boundedWaitSetup(true);
  await pipeline.flush();
  assert.deepEqual(
    emitted.map((e) => [e.event.pid, e.record, e.pod, e.unresolved]),
    [[3, null, null, true]],
  );
  assert.equal(pipeline.counts.unresolved, 1);
  assert.equal(pipeline.counts.unproven, 0);
});

Deno.test("EventPipeline marks a pod sandbox's process: the pod, no container", async () => {
  const pod = { sandbox_id: "sb", name: "foo", namespace: "demo", uid: "u1", labels: {} };
  const { resolver } = scriptedResolver(
    new Map<bigint, Resolution>([[8n, { kind: "sandbox", pod, proof: "cgroup" }]]),
    0,
  );
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache: cacheOf(resolver),
    printUnresolved: false,
    emit: (e) => (emitted.push(e), true),
  });
  pipeline.push(exec(1, 8n));
  await pipeline.flush();
  assert.deepEqual(
    emitted.map((e) => [e.record, e.pod?.name, e.sandbox, e.unresolved]),
    [[null, "foo", true, false]],
  );
});

Deno.test("EventPipeline stops when emit returns false (--count)", async () => {
  const { resolver } = scriptedResolver(
    new Map([[5n, { kind: "container", record: record("app"), proof: "cgroup" }]]),
    0,
  );
  let emitted = 0;
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache: cacheOf(resolver, {}),
    printUnresolved: false,
    emit: () => ++emitted < 2,
  });
  for (let i = 0; i < 5; i++) pipeline.push(exec(i, 5n));
  await pipeline.flush();
  assert.equal(emitted, 2);
  assert.equal(pipeline.stopped, true);
});

Deno.test("isRuntimeHelper() hides runc's setup tasks, not a workload renamed like one", () => {
  const exit = (pid: number, ppid: number, comm: string) =>
    ({
      ...exec(pid, 1n),
      type: "exit",
      ppid,
      comm,
      exitCode: 0,
      signal: 0,
      durationNs: 1n,
    }) as unknown as Parameters<typeof isRuntimeHelper>[0];
  assert.equal(isRuntimeHelper(exit(10, 9, "runc:[1:CHILD]")), true);
  assert.equal(isRuntimeHelper(exit(10, 9, "runc:[2:INIT]")), true);
  assert.equal(isRuntimeHelper(exit(10, 9, "runc")), false);
  assert.equal(isRuntimeHelper({ ...exit(10, 9, "runc:[1:CHILD]"), type: "exec" } as never), false);
  // sh exec'd in the container, then renamed itself (or a subshell of it did): printed.
  assert.equal(isRuntimeHelper(exit(10, 9, "runc:[2:INIT]"), new Set([10])), false);
  assert.equal(isRuntimeHelper(exit(11, 10, "runc:[2:INIT]"), new Set([10])), false);
});

Deno.test("EventPipeline: a namespace two containers' inits share goes by each event's cgroup id", async () => {
  const bar = { ...record("app", "bar"), cgroup_id: 100 } as ContainerRecord;
  const evil = { ...record("main", "evil"), cgroup_id: 200 } as ContainerRecord;
  const { resolver } = scriptedResolver(
    new Map<bigint, Resolution>([[9n, { kind: "shared", records: [bar, evil], proof: "test" }]]),
    0,
  );
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({
    wallClockNs: (bootNs) => bootNs,
    cache: cacheOf(resolver, { pod: "bar" }),
    printUnresolved: false,
    emit: (e) => (emitted.push(e), true),
  });
  pipeline.push({ ...exec(1, 9n), cgroupId: 100n }); // bar's own process
  pipeline.push({ ...exec(2, 9n), cgroupId: 200n }); // the debug pod's
  pipeline.push({ ...exec(3, 9n), cgroupId: 1n }); // neither's cgroup: not proven
  await pipeline.flush();
  assert.deepEqual(emitted.map((e) => [e.event.pid, e.pod?.name, e.record?.name]), [
    [1, "bar", "app"],
  ]);
  assert.equal(pipeline.counts.filtered, 1);
  assert.equal(pipeline.counts.unproven, 1);
});

Deno.test("isRuntimeHelper() decides by the name alone when exec events are not traced", () => {
  const open = (comm: string, pid: number) =>
    ({ type: "open", comm, pid, ppid: 1 }) as unknown as Parameters<typeof isRuntimeHelper>[0];
  const execd = new Set([42]);
  assert.equal(
    isRuntimeHelper(open("runc:[2:INIT]", 42), execd, true),
    false,
    "exec'd: a workload",
  );
  assert.equal(isRuntimeHelper(open("runc:[2:INIT]", 42), execd, false), true, "no exec events");
  assert.equal(isRuntimeHelper(open("cat", 7), execd, false), false);
});
