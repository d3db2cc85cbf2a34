import assert from "node:assert/strict";
import {
  matchesSelector,
  parseLabelSelector,
  selectsEverything,
} from "../../src/runtime/selector.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { UsageError } from "../../src/errors.ts";

function record(
  overrides: Partial<ContainerRecord> & {
    podName?: string;
    ns?: string;
    podLabels?: Record<string, string>;
  },
): ContainerRecord {
  return {
    id: "a".repeat(64),
    name: overrides.name ?? "app",
    state: overrides.state ?? "running",
    created: "",
    started: "",
    attempt: 0,
    image: "img",
    image_id: "",
    image_ref: "",
    runtime: "containerd",
    runtime_endpoint: "unix:///x",
    pod: {
      sandbox_id: "s",
      name: overrides.podName ?? "foo",
      namespace: overrides.ns ?? "demo",
      uid: "u",
      labels: overrides.podLabels ?? { app: "web" },
    },
    compose: null,
    labels: overrides.labels ?? { "io.kubernetes.container.name": overrides.name ?? "app" },
    annotations: {},
    pid: 1,
    cgroup_path: null,
    cgroup_id: null,
    mntns_id: null,
  };
}

Deno.test("parseLabelSelector() accepts repeated and comma-separated key=value", () => {
  assert.deepEqual(parseLabelSelector(["app=web", "tier=fe,env=prod"]), {
    app: "web",
    tier: "fe",
    env: "prod",
  });
  assert.deepEqual(parseLabelSelector(["k="]), { k: "" });
  assert.deepEqual(parseLabelSelector([]), {});
});

Deno.test("parseLabelSelector() rejects items without a key or '='", () => {
  assert.throws(() => parseLabelSelector(["app"]), UsageError);
  assert.throws(() => parseLabelSelector(["=web"]), UsageError);
});

Deno.test("matchesSelector() ANDs pod, namespace, container and labels", () => {
  const r = record({});
  assert.equal(matchesSelector(r, {}), true);
  assert.equal(matchesSelector(r, { pod: "foo", namespace: "demo", container: "app" }), true);
  assert.equal(matchesSelector(r, { pod: "foo", namespace: "other" }), false);
  assert.equal(matchesSelector(r, { container: "db" }), false);
  assert.equal(matchesSelector(r, { labels: { app: "web" } }), true);
  assert.equal(matchesSelector(r, { labels: { "io.kubernetes.container.name": "app" } }), true);
  assert.equal(matchesSelector(r, { labels: { app: "web", tier: "x" } }), false);
});

Deno.test("matchesSelector() skips stopped containers unless includeStopped", () => {
  const r = record({ state: "exited" });
  assert.equal(matchesSelector(r, { pod: "foo" }), false);
  assert.equal(matchesSelector(r, { pod: "foo", includeStopped: true }), true);
});

Deno.test("selectsEverything() is true only without criteria", () => {
  assert.equal(selectsEverything({ labels: {} }), true);
  assert.equal(selectsEverything({ namespace: "x" }), false);
  assert.equal(selectsEverything({ labels: { a: "b" } }), false);
});
