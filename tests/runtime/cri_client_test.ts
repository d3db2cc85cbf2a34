/**
 * CriClient against a real containerd (scripts/lab): one lab for the file, pods and
 * containers created over CRI as the kubelet creates them. Needs root; under `CI=true` the
 * tests run (and fail) instead of being skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import protobuf from "protobufjs";
import { CriClient } from "../../src/runtime/cri_client.ts";
import { criDescriptor } from "../../src/runtime/cri_descriptor.gen.ts";
import { NotFoundError, RuntimeUnavailableError } from "../../src/errors.ts";
import { POD_NAME_LABEL, POD_NAMESPACE_LABEL } from "../../src/runtime/labels.ts";
import { Lab, LAB_IMAGE, type LabPod } from "../../scripts/lab/lab.ts";
import { silentSocket } from "../harness/sockets.ts";

const isRoot = Deno.uid() === 0;
const ignoreReal = !isRoot && Deno.env.get("CI") !== "true";
const NAMESPACE = `crienrich-test-${crypto.randomUUID().slice(0, 8)}`;

interface Fixture {
  lab: Lab;
  client: CriClient;
  web: LabPod;
  db: LabPod;
  /** Containers of `web`, by name. */
  containers: Record<"app" | "sidecar", string>;
  dbContainer: string;
}

let started: Promise<Fixture> | undefined;

/** The file's lab with two pods (web: two containers, db: one), made on first use. */
function fixture(): Promise<Fixture> {
  assert.ok(isRoot, "this test needs root: it starts a private containerd (scripts/lab)");
  return started ??= (async () => {
    const lab = await Lab.start();
    try {
      const web = await lab.runPod({ name: "web-0", namespace: NAMESPACE, labels: { app: "web" } });
      const db = await lab.runPod({ name: "db-0", namespace: NAMESPACE, labels: { app: "db" } });
      const containers = {
        app: await lab.runContainer(web, "app"),
        sidecar: await lab.runContainer(web, "sidecar", ["/bin/sleep", "3601"]),
      };
      const dbContainer = await lab.runContainer(db, "db");
      return { lab, client: new CriClient(lab.socket), web, db, containers, dbContainer };
    } catch (error) {
      await lab.stop();
      throw error;
    }
  })();
}

Deno.test.afterAll(async () => {
  if (!started) return;
  const { lab, client } = await started;
  client.close();
  await lab.stop();
});

Deno.test({
  name: "CriClient.version() returns containerd's name, version and CRI API v1",
  ignore: ignoreReal,
  async fn() {
    const { client } = await fixture();
    const version = await client.version();
    const out = await new Deno.Command("containerd", { args: ["--version"] }).output();
    const expected = new TextDecoder().decode(out.stdout).trim().split(/\s+/)[2];
    assert.equal(version.runtimeName, "containerd");
    assert.equal(version.runtimeVersion, expected);
    assert.equal(version.runtimeApiVersion, "v1");
    assert.equal(version.version, "0.1.0"); // the kubelet runtime API version containerd reports
  },
});

Deno.test({
  name: "CriClient.listPodSandboxes() narrows by label selector (AND)",
  ignore: ignoreReal,
  async fn() {
    const { client, web, db } = await fixture();
    const ours = await client.listPodSandboxes({ [POD_NAMESPACE_LABEL]: NAMESPACE });
    assert.deepEqual(ours.map((p) => p.id).sort(), [web.sandboxId, db.sandboxId].sort());

    const webs = await client.listPodSandboxes({ app: "web", [POD_NAMESPACE_LABEL]: NAMESPACE });
    assert.equal(webs.length, 1);
    const [pod] = webs;
    assert.equal(pod?.id, web.sandboxId);
    assert.deepEqual(pod?.metadata, {
      name: "web-0",
      namespace: NAMESPACE,
      uid: web.uid,
      attempt: 0,
    });
    assert.equal(pod?.state, "SANDBOX_READY");
    assert.equal(pod?.labels["app"], "web");
    assert.equal(pod?.labels[POD_NAME_LABEL], "web-0");
    assert.match(pod?.createdAt ?? "", /^\d{19}$/, "ns since the epoch, as a decimal string");

    assert.deepEqual(await client.listPodSandboxes({ app: "web", [POD_NAME_LABEL]: "db-0" }), []);
    assert.deepEqual(await client.listPodSandboxes({ app: "no-such-app" }), []);
    const all = await client.listPodSandboxes();
    assert.ok(all.length >= 2 && all.some((p) => p.id === db.sandboxId));
  },
});

Deno.test({
  name: "CriClient.listContainers() narrows to one pod sandbox",
  ignore: ignoreReal,
  async fn() {
    const { client, web, containers, dbContainer } = await fixture();
    const inWeb = await client.listContainers({ podSandboxId: web.sandboxId });
    assert.deepEqual(
      inWeb.map((c) => [c.metadata?.name, c.id]).sort(),
      [["app", containers.app], ["sidecar", containers.sidecar]],
    );
    for (const container of inWeb) {
      assert.equal(container.podSandboxId, web.sandboxId);
      assert.equal(container.state, "CONTAINER_RUNNING");
      assert.equal(container.image?.image, LAB_IMAGE);
      assert.match(container.imageRef, /^sha256:[0-9a-f]{64}$/);
    }
    const all = await client.listContainers();
    for (const id of [containers.app, containers.sidecar, dbContainer]) {
      assert.ok(all.some((c) => c.id === id), id);
    }
    assert.deepEqual(await client.listContainers({ podSandboxId: "0".repeat(64) }), []);
  },
});

Deno.test({
  name: "CriClient.containerStatus() verbose info carries the container's real host pid",
  ignore: ignoreReal,
  async fn() {
    const { client, containers } = await fixture();
    const { status, info } = await client.containerStatus(containers.app);
    assert.equal(status?.id, containers.app);
    assert.equal(status?.state, "CONTAINER_RUNNING");
    assert.equal(status?.metadata?.name, "app");
    const document = JSON.parse(info["info"] ?? "{}") as {
      pid?: number;
      runtimeSpec?: { process?: { args?: string[] } };
    };
    const pid = document.pid;
    assert.ok(typeof pid === "number" && pid > 0, `pid in ${Object.keys(document)}`);
    // That pid is the container's init process on this host: its cgroup is the container's
    // and it runs the command the container was created with.
    const cgroup = await Deno.readTextFile(`/proc/${pid}/cgroup`);
    assert.ok(cgroup.includes(containers.app), cgroup);
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    assert.deepEqual(cmdline.split("\0").filter(Boolean), ["/bin/sleep", "3600"]);
    assert.deepEqual(document.runtimeSpec?.process?.args, ["/bin/sleep", "3600"]);
  },
});

Deno.test({
  name: "CriClient.containerStatus() of an unknown id throws NotFoundError",
  ignore: ignoreReal,
  async fn() {
    const { client, lab } = await fixture();
    const unknown = "f".repeat(64);
    await assert.rejects(client.containerStatus(unknown), (error: unknown) => {
      assert.ok(error instanceof NotFoundError, String(error));
      assert.equal(error.exitCode, 5);
      assert.ok(error.message.includes("RuntimeService/ContainerStatus"), error.message);
      assert.ok(error.message.includes(`"${lab.socket}"`), error.message);
      return true;
    });
  },
});

Deno.test({
  name: "CriClient.imageStatus() returns the lab image's repo tags, and null for an absent image",
  ignore: ignoreReal,
  async fn() {
    const { client } = await fixture();
    const { image } = await client.imageStatus(LAB_IMAGE);
    assert.ok(image, "the lab imported its image");
    assert.ok(image.repoTags.includes("crienrich.local/busybox:1"), image.repoTags.join(", "));
    assert.match(image.id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(Number(image.size) > 0, `size ${image.size}`);
    // By id, too (what ListContainers' imageRef holds).
    assert.equal((await client.imageStatus(image.id)).image?.id, image.id);
    assert.equal((await client.imageStatus("crienrich.local/absent:0")).image, null);
  },
});

Deno.test({
  name: "CriClient.close() is idempotent and a later call reconnects",
  ignore: ignoreReal,
  async fn() {
    const { lab } = await fixture();
    const client = new CriClient(lab.socket, { timeoutMs: 3000 });
    assert.equal((await client.version()).runtimeName, "containerd");
    client.close();
    client.close();
    assert.equal((await client.version()).runtimeName, "containerd");
    client.close();
  },
});

Deno.test({
  name: "CriClient calls each honour the deadline against a server that never answers",
  // gRPC closes its channel's socket asynchronously after close().
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "crc-" });
    const path = join(dir, "silent.sock");
    try {
      await using _ = silentSocket(path);
      using client = new CriClient(path, { timeoutMs: 200 });
      const calls: [string, () => Promise<unknown>][] = [
        ["RuntimeService/Version", () => client.version()],
        ["RuntimeService/ListPodSandbox", () => client.listPodSandboxes({ app: "x" })],
        ["RuntimeService/ListContainers", () => client.listContainers({ podSandboxId: "x" })],
        ["RuntimeService/ContainerStatus", () => client.containerStatus("x")],
        ["ImageService/ImageStatus", () => client.imageStatus(LAB_IMAGE)],
        [
          "RuntimeService/PodSandboxStatus",
          () => client.call("RuntimeService", "PodSandboxStatus", { podSandboxId: "x" }),
        ],
      ];
      for (const [name, call] of calls) {
        const started = performance.now();
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof RuntimeUnavailableError, `${name}: ${error}`);
          assert.equal(
            error.message,
            `Runtime at runtime socket "${path}" did not answer ${name} within 200 ms: raise --timeout or check the runtime`,
          );
          return true;
        });
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 150 && elapsed < 1500, `${name} took ${elapsed} ms`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("CriClient translates a missing socket and a refused connection into RuntimeUnavailableError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crc-" });
  try {
    const missing = join(dir, "missing.sock");
    using absent = new CriClient(missing, { timeoutMs: 1000 });
    await assert.rejects(
      absent.version(),
      RuntimeUnavailableError,
      `Cannot connect to runtime socket "${missing}": no such socket`,
    );

    const live = join(dir, "live.sock");
    const dead = join(dir, "dead.sock");
    const listener = Deno.listen({ transport: "unix", path: live });
    await Deno.link(live, dead); // Deno unlinks `live` on close; the link stays, unlistened
    listener.close();
    using refused = new CriClient(dead, { timeoutMs: 1000 });
    await assert.rejects(
      refused.imageStatus(LAB_IMAGE),
      RuntimeUnavailableError,
      `Cannot connect to runtime socket "${dead}": connection refused`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CriClient.call() rejects an unknown method with a TypeError, without I/O", async () => {
  using client = new CriClient("/nonexistent/crienrich.sock");
  await assert.rejects(client.call("RuntimeService", "NoSuchMethod", {}), TypeError);
  assert.equal(client.timeoutMs, 3000);
});

Deno.test("criDescriptor decodes the image fields at cri-api's numbers (ImageSpec 18, image_id 10/17)", () => {
  const v1 = protobuf.Root.fromJSON(criDescriptor);
  // Hand-made wire bytes (field << 3 | 2 for strings, messages and maps), independent of our
  // proto: ImageSpec {1: "a", 18: "b"}; Container {4: ImageSpec, 10: "i"}; ContainerStatus
  // {8: ImageSpec, 17: "j"}. Numbers from k8s.io/cri-api pkg/apis/runtime/v1/api.proto.
  const spec = [0x0a, 1, 0x61, 0x92, 0x01, 1, 0x62];
  const container = Uint8Array.from([0x22, spec.length, ...spec, 0x52, 1, 0x69]);
  const status = Uint8Array.from([0x42, spec.length, ...spec, 0x8a, 0x01, 1, 0x6a]);
  const options = { defaults: true };
  const listed = v1.lookupType("runtime.v1.Container");
  assert.deepEqual(
    pickImage(listed.toObject(listed.decode(container), options)),
    { image: { image: "a", userSpecifiedImage: "b" }, imageId: "i" },
  );
  const full = v1.lookupType("runtime.v1.ContainerStatus");
  assert.deepEqual(
    pickImage(full.toObject(full.decode(status), options)),
    { image: { image: "a", userSpecifiedImage: "b" }, imageId: "j" },
  );
});

function pickImage(message: Record<string, unknown>): Record<string, unknown> {
  const image = message.image as Record<string, unknown>;
  return {
    image: { image: image.image, userSpecifiedImage: image.userSpecifiedImage },
    imageId: message.imageId,
  };
}
