import assert from "node:assert/strict";
import { EnrichmentCache } from "../../src/enrich/cache.ts";
import type { ContainerResolver, Resolution } from "../../src/enrich/resolver.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";

const record = (name: string, pod: string, mntnsId: number) =>
  ({
    name,
    pid: 1,
    mntns_id: mntnsId,
    state: "running",
    labels: {},
    pod: { name: pod, namespace: "demo", labels: {} },
  }) as unknown as ContainerRecord;

function cacheWith(resolve: (pid: number, id: bigint) => Promise<Resolution>) {
  const verdicts: [bigint, boolean][] = [];
  const forgotten: bigint[] = [];
  const cache = new EnrichmentCache({ resolve } as unknown as ContainerResolver, {
    selector: { pod: "foo" },
    includeHost: false,
    onVerdict: (id, allow) => verdicts.push([id, allow]),
    onForget: (id) => forgotten.push(id),
  });
  return { cache, verdicts, forgotten };
}

Deno.test("EnrichmentCache.seed() decides every running container for the kernel", () => {
  const { cache, verdicts } = cacheWith(() => Promise.reject(new Error("no lookups")));
  const selected = cache.seed([record("app", "foo", 5), record("db", "bar", 6)]);
  assert.deepEqual(selected.map((r) => r.name), ["app"]);
  assert.deepEqual(verdicts, [[5n, true], [6n, false]]);
  assert.equal(cache.lookup(5n)?.selected, true);
  assert.equal(cache.lookup(6n)?.selected, false);
});

Deno.test("EnrichmentCache.resolve() looks a namespace up once, however many ask", async () => {
  let calls = 0;
  const { cache, verdicts } = cacheWith(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 10));
    return { kind: "not-container", reason: "a host service" };
  });
  const answers = await Promise.all([cache.resolve(9n, 100), cache.resolve(9n, 101)]);
  assert.equal(calls, 1);
  assert.deepEqual(answers, [{ record: null, selected: false }, { record: null, selected: false }]);
  assert.deepEqual(verdicts, [[9n, false]]);
  assert.deepEqual(await cache.resolve(9n, 102), { record: null, selected: false });
  assert.equal(calls, 1);
});

Deno.test("EnrichmentCache.sweep() drops namespaces no process uses, in the kernel too", () => {
  const { cache, forgotten } = cacheWith(() => Promise.reject(new Error("no lookups")));
  cache.seed([record("app", "foo", 5), record("db", "bar", 6), record("old", "foo", 7)]);
  assert.equal(cache.sweep(new Map([[5n, 100], [6n, 200]])), 1);
  assert.deepEqual(forgotten, [7n]);
  assert.equal(cache.lookup(7n), undefined);
  assert.ok(cache.lookup(5n));
  cache.forget(5n);
  cache.forget(5n); // twice: the kernel is told once
  assert.deepEqual(forgotten, [7n, 5n]);
});
