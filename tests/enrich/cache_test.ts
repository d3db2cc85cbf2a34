import assert from "node:assert/strict";
import { EnrichmentCache } from "../../src/enrich/cache.ts";
import type { ContainerResolver, NamespaceFacts, Resolution } from "../../src/enrich/resolver.ts";
import type { ContainerRecord, PodRecord } from "../../src/runtime/record.ts";

const pod = (name: string, labels: Record<string, string> = {}): PodRecord => ({
  sandbox_id: `sb-${name}`,
  name,
  namespace: "demo",
  uid: `uid-${name}`,
  labels,
});
const record = (name: string, podName: string) =>
  ({ name, pid: 1, state: "running", labels: {}, pod: pod(podName) }) as unknown as ContainerRecord;
const facts = (seq: bigint, mntnsId = seq + 4_026_532_000n): NamespaceFacts => ({
  mntnsSeq: seq,
  mntnsId,
  pid: 100,
  tsBootNs: 1n,
  wallTimeNs: 1n,
});

function cacheWith(
  resolve: (facts: NamespaceFacts) => Promise<Resolution>,
  selector: Record<string, unknown> | null = { pod: "foo" },
  includeHost = false,
) {
  const verdicts: [bigint, boolean][] = [];
  const forgotten: bigint[] = [];
  const cache = new EnrichmentCache({ resolve } as unknown as ContainerResolver, {
    selector,
    includeHost,
    onVerdict: (seq, allow) => verdicts.push([seq, allow]),
    onForget: (seq) => forgotten.push(seq),
  });
  return { cache, verdicts, forgotten };
}

Deno.test("EnrichmentCache.resolve() looks a namespace up once, however many ask", async () => {
  let calls = 0;
  const { cache, verdicts } = cacheWith(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 10));
    return { kind: "none", reason: "a host service" };
  });
  const answers = await Promise.all([cache.resolve(facts(9n)), cache.resolve(facts(9n))]);
  assert.equal(calls, 1);
  assert.equal(answers[0], answers[1]);
  assert.equal(answers[0]?.selected, false);
  assert.equal(answers[0]?.record, null);
  assert.equal(answers[0]?.pod, null);
  assert.deepEqual(verdicts, [[9n, false]]);
  assert.equal(await cache.resolve(facts(9n)), answers[0]);
  assert.equal(calls, 1);
});

Deno.test("EnrichmentCache selects containers, sandboxes and host by the selection", async () => {
  const answers = new Map<bigint, Resolution>([
    [1n, { kind: "container", record: record("app", "foo"), proof: "cgroup" }],
    [2n, { kind: "container", record: record("db", "bar"), proof: "cgroup" }],
    [3n, { kind: "sandbox", pod: pod("foo"), proof: "cgroup" }],
    [4n, { kind: "sandbox", pod: pod("bar"), proof: "cgroup" }],
    [5n, { kind: "none", reason: "host" }],
  ]);
  const resolve = (f: NamespaceFacts) => Promise.resolve(answers.get(f.mntnsSeq)!);
  const byPod = cacheWith(resolve);
  for (const seq of answers.keys()) await byPod.cache.resolve(facts(seq));
  assert.deepEqual(byPod.verdicts, [[1n, true], [2n, false], [3n, true], [4n, false], [5n, false]]);
  const sandbox = byPod.cache.lookup(3n)!;
  assert.deepEqual([sandbox.sandbox, sandbox.record, sandbox.pod?.name], [true, null, "foo"]);

  // A container name never selects a sandbox; --host selects what is no container's.
  const byContainer = cacheWith(resolve, { container: "app" }, true);
  for (const seq of answers.keys()) await byContainer.cache.resolve(facts(seq));
  assert.deepEqual(byContainer.verdicts, [
    [1n, true],
    [2n, false],
    [3n, false],
    [4n, false],
    [5n, true],
  ]);
});

Deno.test("EnrichmentCache does not keep an unresolved namespace: the next event asks again", async () => {
  let calls = 0;
  const { cache, verdicts } = cacheWith(() => {
    calls++;
    return Promise.resolve({ kind: "unresolved", reason: "gone" });
  });
  assert.equal(await cache.resolve(facts(7n)), undefined);
  assert.equal(await cache.resolve(facts(7n)), undefined);
  assert.equal(calls, 2);
  assert.deepEqual(verdicts, []);
});

Deno.test("EnrichmentCache keys by serial: a reused inode number is a new namespace", async () => {
  const answers = new Map<bigint, Resolution>([
    [10n, { kind: "container", record: record("old", "bar"), proof: "cgroup" }],
    [11n, { kind: "container", record: record("new", "foo"), proof: "cgroup" }],
  ]);
  const { cache, verdicts } = cacheWith((f) => Promise.resolve(answers.get(f.mntnsSeq)!));
  // Both namespaces had inode 4026532185, one after the other.
  await cache.resolve(facts(10n, 4_026_532_185n));
  await cache.resolve(facts(11n, 4_026_532_185n));
  assert.equal(cache.lookup(10n)?.record?.name, "old");
  assert.equal(cache.lookup(11n)?.record?.name, "new");
  assert.deepEqual(verdicts, [[10n, false], [11n, true]]);
});

Deno.test("EnrichmentCache.sweep() drops namespaces whose inode no process uses, in the kernel too", async () => {
  const { cache, forgotten } = cacheWith(() =>
    Promise.resolve({ kind: "container", record: record("app", "foo"), proof: "cgroup" })
  );
  await cache.resolve(facts(5n, 500n));
  await cache.resolve(facts(6n, 600n));
  await cache.resolve(facts(7n, 700n));
  assert.equal(cache.sweep(new Map([[500n, 1], [600n, 2]])), 1);
  assert.deepEqual(forgotten, [7n]);
  assert.equal(cache.lookup(7n), undefined);
  assert.ok(cache.lookup(5n));
  cache.forget(5n);
  cache.forget(5n); // twice: the kernel is told once
  assert.deepEqual(forgotten, [7n, 5n]);
});
