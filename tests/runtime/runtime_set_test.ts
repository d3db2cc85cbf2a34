import assert from "node:assert/strict";
import type { RuntimeClient, RuntimeKind, SandboxRecord } from "../../src/runtime/client.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { claims, RuntimeSet } from "../../src/runtime/runtime_set.ts";
import { NotFoundError, RuntimeUnavailableError } from "../../src/errors.ts";

const id = (c: string) => c.repeat(64);
const POD = "pod1f3b5c7d-2222-4a4a-9b9b-0123456789ab";

function record(containerId: string, runtime: string, cgroupPath: string | null): ContainerRecord {
  return {
    id: containerId,
    name: `c-${containerId.slice(0, 4)}`,
    state: "running",
    created: "",
    started: "",
    attempt: 0,
    image: "busybox",
    image_id: "",
    image_ref: "",
    runtime,
    runtime_endpoint: `unix:///${runtime}.sock`,
    pod: null,
    compose: null,
    labels: {},
    annotations: {},
    pid: null,
    cgroup_path: cgroupPath,
    cgroup_id: null,
    mntns_id: null,
  };
}

/** A runtime answering from a fixed list, after `delayMs`, or never when `hung`. */
class FakeRuntime implements RuntimeClient {
  readonly socketPath: string;
  readonly endpoint: string;
  readonly cgroupRoot = undefined;
  closed = false;
  constructor(
    readonly kind: RuntimeKind,
    readonly records: ContainerRecord[],
    readonly options: { hung?: boolean; delayMs?: number; fail?: boolean } = {},
  ) {
    this.socketPath = `/${kind}-${records.length}.sock`;
    this.endpoint = `unix://${this.socketPath}`;
  }
  async #answer<T>(value: () => T): Promise<T> {
    if (this.options.hung) return await new Promise<T>(() => {});
    if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
    if (this.options.fail) throw new RuntimeUnavailableError(`${this.socketPath} refused`);
    return value();
  }
  version() {
    return this.#answer(() => ({
      kind: this.kind,
      name: this.kind,
      version: "1",
      apiVersion: "1",
    }));
  }
  list() {
    return this.#answer(() => this.records);
  }
  get(containerId: string) {
    return this.#answer(() => {
      const found = this.records.find((r) => r.id === containerId);
      if (!found) throw new NotFoundError(`no ${containerId}`);
      return found;
    });
  }
  finishedAtNs(_id: string) {
    return this.#answer(() => BigInt(this.kind.length));
  }
  sandbox(_id: string): Promise<SandboxRecord | undefined> {
    return this.#answer(() => undefined);
  }
  close() {
    this.closed = true;
  }
  [Symbol.dispose]() {
    this.close();
  }
}

Deno.test("claims() gives kubelet and containerd layouts to CRI, dockerd's to Docker", () => {
  const cri = new FakeRuntime("cri", []);
  const docker = new FakeRuntime("docker", []);
  const table: [string, boolean, boolean][] = [
    [`/docker/${id("a")}`, false, true],
    [`/system.slice/docker-${id("a")}.scope`, false, true],
    [`/k8s.io/${id("a")}`, true, false],
    [`/kubepods/besteffort/${POD}/${id("a")}`, true, false],
    // cri-dockerd with the systemd driver: a pod's container is the CRI runtime's.
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1f3b5c7d_2222_4a4a_9b9b_0123456789ab.slice/docker-${
        id("a")
      }.scope`,
      true,
      false,
    ],
    // A kind node's container seen from the host: the inner id is the pod's.
    [`/docker/${id("b")}/kubepods/besteffort/${POD}/${id("a")}`, true, false],
    // Unknown layouts and paths that do not name the id claim nothing.
    [`/custom/${id("a")}`, false, false],
    [`/docker/${id("b")}`, false, false],
    ["/", false, false],
  ];
  for (const [path, byCri, byDocker] of table) {
    assert.equal(claims(cri, id("a"), [path]), byCri, `cri ${path}`);
    assert.equal(claims(docker, id("a"), [path]), byDocker, `docker ${path}`);
  }
});

Deno.test("RuntimeSet.list() answers each container once, by the runtime its cgroup names", async () => {
  const shared = id("a"); // listed by both, e.g. cri-dockerd and dockerd
  const podShared = id("b");
  const unknown = id("c");
  const cri = new FakeRuntime("cri", [
    record(shared, "docker-via-cri", `/docker/${shared}`),
    record(podShared, "docker-via-cri", `/kubepods/besteffort/${POD}/${podShared}`),
    record(unknown, "docker-via-cri", `/custom/${unknown}`),
    record(id("d"), "containerd", `/k8s.io/${id("d")}`),
  ]);
  const docker = new FakeRuntime("docker", [
    record(podShared, "docker", `/kubepods/besteffort/${POD}/${podShared}`),
    record(shared, "docker", `/docker/${shared}`),
    record(unknown, "docker", `/custom/${unknown}`),
    record(id("e"), "docker", `/docker/${id("e")}`),
  ], { delayMs: 20 }); // answers last: the choice must not depend on it
  using set = new RuntimeSet([cri, docker]);
  const listed = await set.list();
  const by = Object.fromEntries(listed.map((r) => [r.id, r.runtime]));
  assert.equal(listed.length, 5);
  assert.deepEqual(by, {
    [shared]: "docker",
    [podShared]: "docker-via-cri",
    [unknown]: "docker-via-cri", // no claim: the first in discovery order
    [id("d")]: "containerd",
    [id("e")]: "docker",
  });
  // finishedAtNs goes to the runtime that answered the id.
  assert.equal(await set.finishedAtNs(shared), BigInt("docker".length));
  assert.equal(await set.finishedAtNs(id("d")), BigInt("cri".length));
});

Deno.test("RuntimeSet.list() leaves out a hung runtime after its deadline and says so once", async () => {
  const cri = new FakeRuntime("cri", [record(id("d"), "containerd", `/k8s.io/${id("d")}`)]);
  const docker = new FakeRuntime("docker", [record(id("e"), "docker", `/docker/${id("e")}`)], {
    hung: true,
  });
  const said: string[] = [];
  using set = new RuntimeSet([cri, docker], {
    timeoutMs: 200,
    onUnavailable: (member, error) => said.push(`${member.kind}: ${error.message}`),
  });
  const started = performance.now();
  assert.deepEqual((await set.list()).map((r) => r.id), [id("d")]);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 1500, `took ${elapsed} ms`);
  await set.list();
  assert.deepEqual(said, [`docker: Runtime "${docker.socketPath}" did not answer within 200 ms`]);
});

Deno.test("RuntimeSet.list() throws the first runtime's error when none answers", async () => {
  const cri = new FakeRuntime("cri", [], { fail: true });
  const docker = new FakeRuntime("docker", [], { fail: true });
  using set = new RuntimeSet([cri, docker], { timeoutMs: 200 });
  await assert.rejects(set.list(), /\/cri-0\.sock refused/);
});

Deno.test("RuntimeSet.get() answers at once from a claiming runtime, despite a hung one", async () => {
  const cri = new FakeRuntime("cri", [record(id("d"), "containerd", `/k8s.io/${id("d")}`)]);
  const docker = new FakeRuntime("docker", [], { hung: true });
  using set = new RuntimeSet([cri, docker], { timeoutMs: 5_000 });
  const started = performance.now();
  assert.equal((await set.get(id("d"))).runtime, "containerd");
  assert.ok(performance.now() - started < 1_000);
});

Deno.test("RuntimeSet.get() waits for the claimant when another runtime answers first", async () => {
  const shared = id("a");
  const cri = new FakeRuntime("cri", [record(shared, "via-cri", `/docker/${shared}`)]);
  const docker = new FakeRuntime("docker", [record(shared, "docker", `/docker/${shared}`)], {
    delayMs: 50,
  });
  using set = new RuntimeSet([cri, docker]);
  assert.equal((await set.get(shared)).runtime, "docker");
});

Deno.test("RuntimeSet.get() is NotFound when no runtime has the id, and rethrows a failure", async () => {
  const cri = new FakeRuntime("cri", []);
  const docker = new FakeRuntime("docker", []);
  using set = new RuntimeSet([cri, docker]);
  await assert.rejects(set.get(id("f")), NotFoundError);
  using failing = new RuntimeSet([
    new FakeRuntime("cri", []),
    new FakeRuntime("docker", [], { fail: true }),
  ]);
  await assert.rejects(failing.get(id("f")), RuntimeUnavailableError);
});

Deno.test("RuntimeSet closes every runtime", () => {
  const cri = new FakeRuntime("cri", []);
  const docker = new FakeRuntime("docker", []);
  new RuntimeSet([cri, docker]).close();
  assert.ok(cri.closed && docker.closed);
  assert.throws(() => new RuntimeSet([]), RangeError);
});
