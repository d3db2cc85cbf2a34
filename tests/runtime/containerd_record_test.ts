import assert from "node:assert/strict";
import {
  buildContainerdRecord,
  containerdState,
  containerdTimeToNs,
  containerOfTask,
  decodeOciSpec,
  isContainerdSandbox,
} from "../../src/runtime/containerd_record.ts";
import { claims } from "../../src/runtime/runtime_set.ts";
import type { RuntimeClient } from "../../src/runtime/client.ts";

const ID = "ab".repeat(32);
const spec = (json: unknown) => ({
  typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec",
  value: new TextEncoder().encode(JSON.stringify(json)),
});

Deno.test("decodeOciSpec() reads linux.cgroupsPath and annotations; garbage is {}", () => {
  assert.deepEqual(decodeOciSpec(spec({ linux: { cgroupsPath: `/default/${ID}` } })), {
    linux: { cgroupsPath: `/default/${ID}` },
  });
  assert.deepEqual(decodeOciSpec({ value: new TextEncoder().encode("{not json") }), {});
  assert.deepEqual(decodeOciSpec(null), {});
  assert.deepEqual(decodeOciSpec({ value: new TextEncoder().encode("3") }), {});
});

Deno.test("decodeOciSpec() drops fields of the wrong type (the Any is typed, its JSON is not)", () => {
  assert.deepEqual(decodeOciSpec(spec({ annotations: null, linux: { cgroupsPath: 5 } })), {});
  assert.deepEqual(decodeOciSpec(spec({ annotations: "x", linux: "y" })), {});
  assert.deepEqual(decodeOciSpec(spec({ annotations: { a: "1", b: 2 }, linux: [] })), {
    annotations: { a: "1" },
  });
  assert.deepEqual(decodeOciSpec({ value: new TextEncoder().encode("[1]") }), {});
});

Deno.test("containerdState() maps task statuses; no task is created", () => {
  const task = (status: "RUNNING" | "PAUSED" | "STOPPED" | "CREATED" | "UNKNOWN") => ({
    containerId: ID,
    status,
  });
  assert.equal(containerdState(undefined), "created");
  assert.equal(containerdState(task("CREATED")), "created");
  assert.equal(containerdState(task("RUNNING")), "running");
  assert.equal(containerdState(task("PAUSED")), "running");
  assert.equal(containerdState(task("STOPPED")), "exited");
  assert.equal(containerdState(task("UNKNOWN")), "unknown");
});

Deno.test("containerOfTask() takes id when Tasks/List leaves container_id empty (1.6)", () => {
  assert.equal(containerOfTask({ containerId: "", id: ID }), ID);
  assert.equal(containerOfTask({ containerId: ID, id: "" }), ID);
});

Deno.test("containerdTimeToNs() is 0 for Go's zero time and absent stamps", () => {
  assert.equal(containerdTimeToNs({ seconds: "-62135596800", nanos: 0 }), 0n);
  assert.equal(containerdTimeToNs(undefined), 0n);
  assert.equal(containerdTimeToNs({ seconds: "2", nanos: 5 }), 2_000_000_005n);
});

Deno.test("isContainerdSandbox() knows the CRI plugin's sandbox label", () => {
  assert.equal(isContainerdSandbox({ labels: { "io.cri-containerd.kind": "sandbox" } }), true);
  assert.equal(isContainerdSandbox({ labels: { "io.cri-containerd.kind": "container" } }), false);
  assert.equal(isContainerdSandbox({}), false);
});

Deno.test("buildContainerdRecord() gives runtime containerd, pod null and the namespace", () => {
  const record = buildContainerdRecord({
    container: {
      id: ID,
      labels: { "nerdctl/name": "web", tier: "batch" },
      image: "docker.io/library/busybox:1",
      spec: spec({ annotations: { note: "x" } }),
      createdAt: { seconds: "1764552939", nanos: 500365501 },
    },
    namespace: "default",
    task: { containerId: ID, pid: 42, status: "RUNNING" },
    runtimeEndpoint: "unix:///run/containerd/containerd.sock",
    process: { pid: 42, cgroupPath: `/default/${ID}`, cgroupId: 7n, mntnsId: 9n },
  });
  assert.deepEqual(record, {
    id: ID,
    name: "web",
    state: "running",
    created: "2025-12-01T01:35:39.500365501Z",
    started: "",
    attempt: 0,
    image: "docker.io/library/busybox:1",
    image_id: "",
    image_ref: "docker.io/library/busybox:1",
    runtime: "containerd",
    runtime_endpoint: "unix:///run/containerd/containerd.sock",
    pod: null,
    containerd_namespace: "default",
    compose: null,
    labels: { "nerdctl/name": "web", tier: "batch" },
    annotations: { note: "x" },
    pid: 42,
    cgroup_path: `/default/${ID}`,
    cgroup_id: 7,
    mntns_id: 9,
  });
});

Deno.test("claims(): containerd's API owns /<namespace>/<id> but not k8s.io, moby or pods", () => {
  const member = (kind: RuntimeClient["kind"]) => ({ kind }) as RuntimeClient;
  const containerd = member("containerd");
  assert.equal(claims(containerd, ID, [`/default/${ID}`]), true);
  assert.equal(claims(containerd, ID, [`/nerdctl-ns.1/${ID}`]), true);
  assert.equal(claims(containerd, ID, [`/k8s.io/${ID}`]), false);
  assert.equal(claims(containerd, ID, [`/moby/${ID}`]), false);
  assert.equal(claims(containerd, ID, [`/docker/${ID}`]), false);
  assert.equal(claims(containerd, ID, [`/kubepods/${ID}`]), false);
  assert.equal(claims(containerd, ID, [`/a/default/${ID}`]), false);
  assert.equal(claims(containerd, ID, [`/kubepods/besteffort/pod${"1".repeat(32)}/${ID}`]), false);
  // The CRI runtime keeps its own layout.
  assert.equal(claims(member("cri"), ID, [`/k8s.io/${ID}`]), true);
  assert.equal(claims(member("cri"), ID, [`/default/${ID}`]), false);
});
