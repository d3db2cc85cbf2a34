/**
 * The Docker Engine API mapping and version negotiation, from answers captured from dockerd
 * 20.10 (tests/testdata/docker/) and cri-dockerd-style label sets. No daemon needed.
 */
import assert from "node:assert/strict";
import {
  buildDockerRecord,
  dockerCgroupPath,
  type DockerContainerInspect,
  dockerPidOf,
  dockerTimeToNs,
  isDockerSandbox,
  parseDockerInspect,
} from "../../src/runtime/docker_record.ts";
import {
  compareApiVersions,
  negotiateApiVersion,
  parseDockerVersion,
} from "../../src/runtime/docker_api.ts";
import { MalformedAnswerError } from "../../src/runtime/json_shape.ts";
import { RuntimeUnavailableError } from "../../src/errors.ts";

const fixture = async (name: string): Promise<DockerContainerInspect> =>
  JSON.parse(
    await Deno.readTextFile(new URL(`../testdata/docker/${name}`, import.meta.url)),
  );

const ENDPOINT = "unix:///run/docker.sock";

Deno.test("buildDockerRecord() maps a running docker run container, pod null", async () => {
  const inspect = await fixture("inspect-web-20.10.json");
  const record = buildDockerRecord({
    inspect,
    runtimeEndpoint: ENDPOINT,
    process: { pid: 17287, cgroupPath: `/docker/${inspect.Id}`, cgroupId: 53149n, mntnsId: 7n },
  });
  assert.deepEqual(record, {
    id: "2885ce1a2db2eb5a037ae1e47b31bebd33eb283f379ead0cc6ea952692c9af75",
    name: "web",
    state: "running",
    created: "2026-12-01T00:37:19.614589718Z",
    started: "2026-12-01T00:37:19.803584851Z",
    attempt: 0,
    image: "crienrich.local/busybox:1",
    image_id: "sha256:98acc11a811793c2126555f5a0ad0c9defd8e9ca58f2fe1890c3639f7a52f192",
    image_ref: "sha256:98acc11a811793c2126555f5a0ad0c9defd8e9ca58f2fe1890c3639f7a52f192",
    runtime: "docker",
    runtime_endpoint: ENDPOINT,
    pod: null,
    compose: { project: "shop", service: "web" },
    labels: { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" },
    annotations: {},
    pid: 17287,
    cgroup_path: "/docker/2885ce1a2db2eb5a037ae1e47b31bebd33eb283f379ead0cc6ea952692c9af75",
    cgroup_id: 53149,
    mntns_id: 7,
  });
  assert.equal(dockerPidOf(inspect), 17287);
});

Deno.test("buildDockerRecord() maps an exited container: no pid, state exited", async () => {
  const inspect = await fixture("inspect-exited-20.10.json");
  assert.equal(dockerPidOf(inspect), undefined);
  const record = buildDockerRecord({ inspect, runtimeEndpoint: ENDPOINT });
  assert.equal(record.state, "exited");
  assert.equal(record.name, "once");
  assert.equal(record.pid, null);
  assert.equal(record.pod, null);
  assert.equal(record.compose, null, "a docker run container is no Compose service");
  assert.equal(record.mntns_id, null);
});

Deno.test("buildDockerRecord() gives cri-dockerd containers their pod, CRI name, attempt and annotations", () => {
  const uid = "5f0c6a1e-3b2d-4c7e-9a10-2b3c4d5e6f70";
  const sandboxId = "b".repeat(64);
  const podLabels = {
    "io.kubernetes.pod.name": "web-5c7b9d-x2k4q",
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.pod.uid": uid,
  };
  const sandbox: DockerContainerInspect = {
    Id: sandboxId,
    Name: `/k8s_POD_web-5c7b9d-x2k4q_shop_${uid}_0`,
    Config: {
      Image: "registry.k8s.io/pause:3.9",
      Labels: {
        ...podLabels,
        "io.kubernetes.docker.type": "podsandbox",
        "annotation.kubernetes.io/config.source": "api",
        app: "web",
        tier: "frontend",
      },
    },
  };
  const container: DockerContainerInspect = {
    Id: "c".repeat(64),
    Name: `/k8s_app_web-5c7b9d-x2k4q_shop_${uid}_2`,
    Image: "sha256:" + "d".repeat(64),
    RestartCount: 0,
    State: { Status: "running", Running: true, Pid: 42 },
    Config: {
      Image: "nginx:1.25",
      Labels: {
        ...podLabels,
        "io.kubernetes.container.name": "app",
        "io.kubernetes.docker.type": "container",
        "io.kubernetes.sandbox.id": sandboxId,
        "annotation.io.kubernetes.container.hash": "ab12",
        "annotation.io.kubernetes.container.restartCount": "2",
      },
    },
  };
  assert.ok(isDockerSandbox(sandbox));
  assert.ok(!isDockerSandbox(container));
  const record = buildDockerRecord({ inspect: container, sandbox, runtimeEndpoint: ENDPOINT });
  assert.equal(record.name, "app");
  assert.equal(record.attempt, 2);
  assert.equal(record.image, "nginx:1.25");
  assert.deepEqual(record.pod, {
    sandbox_id: sandboxId,
    name: "web-5c7b9d-x2k4q",
    namespace: "shop",
    uid,
    labels: { app: "web", tier: "frontend" },
  });
  assert.deepEqual(record.labels, { ...podLabels, "io.kubernetes.container.name": "app" });
  assert.deepEqual(record.annotations, { "io.kubernetes.container.restartCount": "2" });
  // Without its sandbox the pod is still known, without the pod's own labels.
  const alone = buildDockerRecord({ inspect: container, runtimeEndpoint: ENDPOINT });
  assert.deepEqual(alone.pod?.labels, {});
  assert.equal(alone.pod?.name, "web-5c7b9d-x2k4q");
});

Deno.test("buildDockerRecord() maps every Docker state, unknown ones as unknown", () => {
  const cases: [string, string][] = [
    ["created", "created"],
    ["running", "running"],
    ["paused", "running"],
    ["restarting", "running"],
    ["removing", "exited"],
    ["exited", "exited"],
    ["dead", "exited"],
    ["bogus", "unknown"],
    ["", "unknown"],
  ];
  for (const [status, state] of cases) {
    const record = buildDockerRecord({
      inspect: { Id: "a".repeat(64), State: { Status: status } },
      runtimeEndpoint: ENDPOINT,
    });
    assert.equal(record.state, state, status);
  }
  // A minimal answer (old daemons, garbage) still gives a record with empty fields.
  const bare = buildDockerRecord({ inspect: { Id: "a".repeat(64) }, runtimeEndpoint: ENDPOINT });
  assert.deepEqual(
    [bare.name, bare.image, bare.image_id, bare.created, bare.started, bare.pod, bare.labels],
    ["", "", "", "", "", null, {}],
  );
});

Deno.test("dockerTimeToNs() reads RFC 3339 with any precision and offset, not the zero time", () => {
  const cases: [string | undefined, bigint | undefined][] = [
    ["2026-12-01T00:37:19.803584851Z", 1796085439803584851n],
    ["2026-12-01T00:37:19.8Z", 1796085439800000000n],
    ["2026-12-01T00:37:19Z", 1796085439000000000n],
    ["2026-12-01T01:37:19.5+01:00", 1796085439500000000n],
    ["0001-01-01T00:00:00Z", undefined], // Docker's "never"
    ["", undefined],
    ["yesterday", undefined],
    ["2026-12-01T00:37:19.1234567890Z", undefined], // 10 digits
    [undefined, undefined],
  ];
  for (const [text, ns] of cases) assert.equal(dockerTimeToNs(text), ns, String(text));
});

Deno.test("dockerCgroupPath() follows the daemon's cgroup driver and parent", () => {
  const id = "e".repeat(64);
  const cases: [string | undefined, string | undefined, string | undefined][] = [
    ["", "cgroupfs", `/docker/${id}`],
    [undefined, "cgroupfs", `/docker/${id}`],
    ["/kubepods/besteffort/pod12", "cgroupfs", `/kubepods/besteffort/pod12/${id}`],
    ["kubepods/", "cgroupfs", `/kubepods/${id}`],
    ["", "systemd", `/system.slice/docker-${id}.scope`],
    [
      "kubepods-besteffort-pod12.slice",
      "systemd",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/docker-${id}.scope`,
    ],
    ["", "none", undefined],
    ["", undefined, undefined],
  ];
  for (const [parent, driver, path] of cases) {
    assert.equal(dockerCgroupPath(id, parent, driver), path, `${parent} ${driver}`);
  }
});

Deno.test("negotiateApiVersion() takes the lower of the daemon's and ours, refuses too old or garbage", () => {
  assert.equal(negotiateApiVersion("1.41"), "1.41"); // dockerd 20.10, Podman 4
  assert.equal(negotiateApiVersion("1.24"), "1.24");
  assert.equal(negotiateApiVersion("1.51"), "1.47"); // a newer daemon serves older versions
  assert.equal(negotiateApiVersion("2.0"), "1.47");
  for (const bad of ["1.23", "1.12", "", undefined, "v1.41", "1.41.1", "latest"]) {
    assert.throws(() => negotiateApiVersion(bad), RuntimeUnavailableError, String(bad));
  }
  assert.ok(compareApiVersions("1.9", "1.41") < 0);
  assert.ok(compareApiVersions("1.100", "1.47") > 0);
  assert.equal(compareApiVersions("1.41", "1.41"), 0);
});

Deno.test("parseDockerInspect() keeps real answers whole: the records are the same", async () => {
  for (const name of ["inspect-web-20.10.json", "inspect-exited-20.10.json"]) {
    const raw = await fixture(name);
    const parsed = parseDockerInspect(raw);
    assert.deepEqual(
      buildDockerRecord({ inspect: parsed, runtimeEndpoint: ENDPOINT }),
      buildDockerRecord({ inspect: raw, runtimeEndpoint: ENDPOINT }),
    );
    assert.equal(dockerPidOf(parsed), dockerPidOf(raw));
  }
});

Deno.test("parseDockerInspect() drops wrong-typed fields; buildDockerRecord() maps what is left", () => {
  const inspect = parseDockerInspect({
    Id: "abc",
    Name: [],
    Created: 3,
    RestartCount: "2",
    Image: {},
    State: { Status: 7, Running: "yes", Pid: "42", StartedAt: null },
    Config: { Image: ["busybox"], Labels: { tier: "web", bad: 5, nested: {} } },
    HostConfig: { CgroupParent: 9 },
  });
  assert.deepEqual(inspect, {
    Id: "abc",
    State: {},
    Config: { Labels: { tier: "web" } },
    HostConfig: {},
  });
  const record = buildDockerRecord({ inspect, runtimeEndpoint: ENDPOINT });
  assert.equal(record.name, "");
  assert.equal(record.state, "unknown");
  assert.equal(record.created, "");
  assert.equal(record.attempt, 0);
  assert.equal(record.image, "");
  assert.deepEqual(record.labels, { tier: "web" });
  assert.equal(dockerPidOf(inspect), undefined);
  // Whole parts of the wrong type: as if unsaid.
  const bare = parseDockerInspect({ Id: "abc", State: 7, Config: "x", HostConfig: null });
  assert.deepEqual(bare, { Id: "abc" });
  assert.equal(buildDockerRecord({ inspect: bare, runtimeEndpoint: ENDPOINT }).state, "unknown");
  assert.deepEqual(
    parseDockerInspect({ Id: "abc", Config: { Labels: "x" } }),
    { Id: "abc", Config: {} },
  );
});

Deno.test("parseDockerInspect() refuses an answer without a string Id", () => {
  for (const answer of [null, [], "abc", {}, { Id: 5 }, { Id: "" }]) {
    assert.throws(() => parseDockerInspect(answer), MalformedAnswerError, JSON.stringify(answer));
  }
});

Deno.test("parseDockerVersion() keeps typed fields, drops bad components, refuses a bad ApiVersion", () => {
  assert.deepEqual(
    parseDockerVersion({
      Version: 27,
      ApiVersion: "1.47",
      MinAPIVersion: null,
      Components: [null, "x", { Name: "Engine", Version: 3, Details: { APIVersion: 4 } }],
    }),
    { ApiVersion: "1.47", Components: [{ Name: "Engine" }] },
  );
  assert.deepEqual(parseDockerVersion({ ApiVersion: "1.41", Components: "x" }), {
    ApiVersion: "1.41",
  });
  assert.throws(() => parseDockerVersion({ ApiVersion: 1.41 }), MalformedAnswerError);
  assert.throws(() => parseDockerVersion([]), MalformedAnswerError);
});
