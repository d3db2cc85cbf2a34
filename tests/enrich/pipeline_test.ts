/**
 * The pipeline's ordering, one-resolution-per-namespace and bounded-wait rules. The resolver
 * here is a scripted stand-in (the real one is exercised by tests/cli/trace_test.ts against
 * containerd); events are built as the decoder builds them.
 */
import assert from "node:assert/strict";
import { EnrichmentCache } from "../../src/enrich/cache.ts";
import { type EnrichedEvent, EventPipeline } from "../../src/enrich/pipeline.ts";
import type { ContainerResolver, Resolution } from "../../src/enrich/resolver.ts";
import type { ExecEvent } from "../../src/bpf/event.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";

function exec(pid: number, mntnsId: bigint): ExecEvent {
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
    mntnsId,
    mntnsUnknown: true,
    binary: "/bin/sh",
    binaryTruncated: false,
    args: ["/bin/sh"],
    argsTruncated: false,
  };
}

function record(name: string, mntnsId: number): ContainerRecord {
  return {
    name,
    pid: 99,
    mntns_id: mntnsId,
    state: "running",
    labels: {},
    pod: { name: "foo", namespace: "demo", labels: {} },
  } as unknown as ContainerRecord;
}

/** A resolver answering from a table after `delayMs`, counting calls. */
function scriptedResolver(answers: Map<bigint, Resolution>, delayMs: number) {
  const calls: bigint[] = [];
  const resolver = {
    resolve: async (_pid: number, mntnsId: bigint): Promise<Resolution> => {
      calls.push(mntnsId);
      await new Promise((r) => setTimeout(r, delayMs));
      return answers.get(mntnsId) ?? { kind: "gone", reason: "test" };
    },
  } as unknown as ContainerResolver;
  return { resolver, calls };
}

Deno.test("EventPipeline emits in push order and resolves a new namespace once", async () => {
  const { resolver, calls } = scriptedResolver(
    new Map([[10n, { kind: "container", record: record("late", 10) }]]),
    20,
  );
  const verdicts: [bigint, boolean][] = [];
  const cache = new EnrichmentCache(resolver, {
    selector: { pod: "foo" },
    includeHost: false,
    onVerdict: (id, allow) => verdicts.push([id, allow]),
  });
  cache.seed([record("app", 5)]);
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({ cache, emit: (e) => (emitted.push(e), true) });
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
  assert.deepEqual(calls, [10n]);
  assert.equal(cache.resolutions, 1);
  assert.deepEqual(verdicts, [[5n, true], [10n, true]]);
  assert.deepEqual(pipeline.counts, { seen: 5, printed: 5, filtered: 0, unresolved: 0, lost: 0 });
});

Deno.test("EventPipeline never strands an event pushed while the loop ends", async () => {
  const cache = new EnrichmentCache(scriptedResolver(new Map(), 0).resolver, {
    selector: {},
    includeHost: false,
    onVerdict: () => {},
  });
  cache.seed([record("app", 5)]);
  let emitted = 0;
  const pipeline = new EventPipeline({ cache, emit: () => (emitted++, true) });
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

Deno.test("EventPipeline prints an event unresolved after the wait bound, and filters unselected ones", async () => {
  const { resolver } = scriptedResolver(
    new Map<bigint, Resolution>([
      [20n, {
        kind: "container",
        record: {
          ...record("db", 20),
          pod: { name: "bar", namespace: "demo", labels: {} },
        } as ContainerRecord,
      }],
      [30n, { kind: "not-container", reason: "host service" }],
    ]),
    10,
  );
  const slow = {
    resolve: (pid: number, id: bigint) =>
      id === 40n ? new Promise<Resolution>(() => {}) : resolver.resolve(pid, id),
  } as unknown as ContainerResolver;
  const cache = new EnrichmentCache(slow, {
    selector: { pod: "foo" },
    includeHost: false,
    onVerdict: () => {},
  });
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({
    cache,
    resolveWaitMs: 50,
    emit: (e) => (emitted.push(e), true),
  });
  pipeline.push(exec(1, 20n)); // pod bar: filtered
  pipeline.push(exec(2, 30n)); // host service: filtered (no --host)
  pipeline.push(exec(3, 40n)); // never resolves: printed unresolved after 50 ms
  const started = Date.now();
  await pipeline.flush();
  assert.ok(Date.now() - started >= 45);
  assert.deepEqual(emitted.map((e) => [e.event.pid, e.record, e.unresolved]), [[3, null, true]]);
  assert.deepEqual(pipeline.counts, { seen: 3, printed: 1, filtered: 2, unresolved: 1, lost: 0 });
});

Deno.test("EventPipeline stops when emit returns false (--count)", async () => {
  const cache = new EnrichmentCache(scriptedResolver(new Map(), 0).resolver, {
    selector: {},
    includeHost: false,
    onVerdict: () => {},
  });
  cache.seed([record("app", 5)]);
  let emitted = 0;
  const pipeline = new EventPipeline({ cache, emit: () => ++emitted < 2 });
  for (let i = 0; i < 5; i++) pipeline.push(exec(i, 5n));
  await pipeline.flush();
  assert.equal(emitted, 2);
  assert.equal(pipeline.stopped, true);
});

Deno.test("EventPipeline looks a namespace up afresh when the kernel dropped its verdict", async () => {
  const answers = new Map<bigint, Resolution>([[10n, {
    kind: "container",
    record: record("new", 10),
  }]]);
  const { resolver, calls } = scriptedResolver(answers, 0);
  let now = 100n;
  const cache = new EnrichmentCache(resolver, {
    selector: { pod: "foo" },
    includeHost: false,
    onVerdict: () => {},
    bootClockNs: () => now,
  });
  // An ended container of another pod had namespace 10: denied at boot time 100.
  cache.seed([
    {
      ...record("old", 10),
      pod: { name: "bar", namespace: "demo", labels: {} },
    } as ContainerRecord,
  ]);
  const emitted: EnrichedEvent[] = [];
  const pipeline = new EventPipeline({ cache, emit: (e) => (emitted.push(e), true) });
  // A sample written before the verdict reached the kernel: still the old namespace.
  pipeline.push({ ...exec(1, 10n), tsBootNs: 50n });
  // Flagged unknown after the verdict was written: the kernel dropped it, the id is reused.
  now = 300n;
  pipeline.push({ ...exec(2, 10n), tsBootNs: 200n });
  await pipeline.flush();
  assert.deepEqual(calls, [10n]);
  assert.deepEqual(emitted.map((e) => [e.event.pid, e.record?.name]), [[2, "new"]]);
  assert.equal(pipeline.counts.filtered, 1);
});
