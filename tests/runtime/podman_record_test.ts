/**
 * Podman's mapping, from answers captured from Podman 4.3.1's service
 * (tests/testdata/podman/): a container of pod "shop" (labels team=blue) and an exited one
 * outside any pod. No service needed.
 */
import assert from "node:assert/strict";
import {
  buildPodmanRecord,
  type LibpodContainerEntry,
  type LibpodPodEntry,
  parseLibpodContainerEntry,
  parseLibpodPodEntry,
  PODMAN_POD_NAMESPACE,
  podmanCgroupPath,
  podmanEngineOf,
  podmanPodOf,
  type PodmanVersionResponse,
} from "../../src/runtime/podman_record.ts";
import {
  type DockerContainerInspect,
  parseDockerInspect,
} from "../../src/runtime/docker_record.ts";
import { parseDockerVersion } from "../../src/runtime/docker_api.ts";
import { expectList, MalformedAnswerError } from "../../src/runtime/json_shape.ts";

const fixture = async <T>(name: string): Promise<T> =>
  JSON.parse(await Deno.readTextFile(new URL(`../testdata/podman/${name}`, import.meta.url)));

const WORKER = "0267128c44a763fa11893844f52b2f06311098ee3de2282a5bd513c693d94639";
const INFRA = "9a0e7a802bd68fe02919cbc398ab8c9e91865c26e61b3356a0c8c486d0e8bce1";
const POD = "68964eb0283ee11e172df4e4c1f68b859f8cca76c4d821c4732f287bcc21450d";
const ENDPOINT = "unix:///run/podman/podman.sock";

Deno.test("podmanEngineOf() reads Podman's versions from its GET /version, none from dockerd's", async () => {
  const podman = await fixture<PodmanVersionResponse>("version-4.3.1.json");
  assert.deepEqual(podmanEngineOf(podman), { version: "4.3.1", apiVersion: "4.3.1" });
  // dockerd 20.10's answer: its components are Engine, containerd, runc, docker-init.
  const docker: PodmanVersionResponse = {
    Version: "20.10.24+dfsg1",
    ApiVersion: "1.41",
    Components: [{ Name: "Engine", Version: "20.10.24+dfsg1" }, { Name: "containerd" }],
  };
  assert.equal(podmanEngineOf(docker), undefined);
  assert.equal(podmanEngineOf({}), undefined);
  // An engine without details: libpod's API version follows Podman's own.
  assert.deepEqual(
    podmanEngineOf({ Components: [{ Name: "Podman Engine", Version: "4.9.3" }] }),
    { version: "4.9.3", apiVersion: "4.9.3" },
  );
});

Deno.test("podmanPodOf() makes a Podman pod the record's pod, null outside any pod", async () => {
  const entries = await fixture<LibpodContainerEntry[]>("libpod-containers-4.3.1.json");
  const [pod] = await fixture<LibpodPodEntry[]>("libpod-pods-4.3.1.json");
  const worker = entries.find((e) => e.Id === WORKER)!;
  assert.deepEqual(podmanPodOf(worker, pod), {
    sandbox_id: INFRA,
    name: "shop",
    namespace: PODMAN_POD_NAMESPACE,
    uid: POD,
    labels: { team: "blue" },
  });
  const infra = entries.find((e) => e.IsInfra)!;
  assert.equal(infra.Id, INFRA, "the infra container is flagged");
  // A pod gone between the two lists: the container's own Pod and PodName still say it.
  assert.deepEqual(podmanPodOf(worker, undefined), {
    sandbox_id: "",
    name: "shop",
    namespace: "podman",
    uid: POD,
    labels: {},
  });
  for (const outside of entries.filter((e) => !e.Pod)) {
    assert.equal(podmanPodOf(outside, pod), null, outside.Id);
  }
  assert.equal(podmanPodOf(undefined, pod), null);
});

Deno.test("buildPodmanRecord() maps as Docker does, runtime podman, with the pod", async () => {
  const inspect = await fixture<DockerContainerInspect>("inspect-pod-worker-4.3.1.json");
  const entries = await fixture<LibpodContainerEntry[]>("libpod-containers-4.3.1.json");
  const [pod] = await fixture<LibpodPodEntry[]>("libpod-pods-4.3.1.json");
  const record = buildPodmanRecord({
    inspect,
    entry: entries.find((e) => e.Id === WORKER)!,
    pod: pod!,
    runtimeEndpoint: ENDPOINT,
    process: { pid: 27840, cgroupPath: `/libpod_parent/${POD}/libpod-${WORKER}` },
  });
  assert.equal(record.id, WORKER);
  assert.equal(record.name, "worker");
  assert.equal(record.state, "running");
  assert.equal(record.image, "crienrich.local/busybox:1");
  assert.equal(
    record.image_id,
    "sha256:e161cd56d745b155cbac1a4e50f4eb8a24946b336df26afe257c06d6ad6037ae",
  );
  assert.equal(record.runtime, "podman");
  assert.equal(record.runtime_endpoint, ENDPOINT);
  assert.deepEqual(record.labels, { role: "w" });
  assert.equal(record.pod?.name, "shop");
  assert.equal(record.pod?.sandbox_id, INFRA);
  assert.equal(record.started, "2026-12-01T01:05:48.937408798Z");
  assert.equal(record.pid, 27840);
  // The record keeps the key order of every other runtime's.
  assert.deepEqual(
    Object.keys(record),
    Object.keys(buildPodmanRecord({ inspect, runtimeEndpoint: ENDPOINT })),
  );

  const exited = buildPodmanRecord({
    inspect: await fixture<DockerContainerInspect>("inspect-exited-4.3.1.json"),
    runtimeEndpoint: ENDPOINT,
  });
  assert.equal(exited.state, "exited");
  assert.equal(exited.pod, null);
  assert.equal(exited.pid, null);
  assert.equal(exited.compose, null);

  // podman-compose labels its containers as Docker Compose does.
  const composed = buildPodmanRecord({
    inspect: {
      ...inspect,
      Config: {
        ...inspect.Config,
        Labels: { "com.docker.compose.project": "shop", "com.docker.compose.service": "api" },
      },
    },
    runtimeEndpoint: ENDPOINT,
  });
  assert.deepEqual(composed.compose, { project: "shop", service: "api" });
});

Deno.test("podmanCgroupPath() follows Podman's cgroup managers and parents", () => {
  const id = WORKER;
  const cases: [string | undefined, string | undefined, string | undefined][] = [
    // cgroupfs (this lab, /proc/<pid>/cgroup seen): default parent, a pod's parent.
    ["", "cgroupfs", `/libpod_parent/libpod-${id}`],
    [undefined, "cgroupfs", `/libpod_parent/libpod-${id}`],
    [`/libpod_parent/${POD}`, "cgroupfs", `/libpod_parent/${POD}/libpod-${id}`],
    ["custom/", "cgroupfs", `/custom/libpod-${id}`],
    // systemd (fixtures: cgroupsPath `machine.slice:libpod:<id>` as runc expands it).
    ["", "systemd", `/machine.slice/libpod-${id}.scope`],
    [
      `machine-libpod_pod_${POD}.slice`,
      "systemd",
      `/machine.slice/machine-libpod_pod_${POD}.slice/libpod-${id}.scope`,
    ],
    // Another manager, or none known: no path claimed.
    ["", "none", undefined],
    ["", undefined, undefined],
  ];
  for (const [parent, driver, expected] of cases) {
    assert.equal(podmanCgroupPath(id, parent, driver), expected, `${parent} ${driver}`);
  }
});

Deno.test("libpod's lists read through the parsers give the same pods and records", async () => {
  const rawEntries = await fixture<unknown>("libpod-containers-4.3.1.json");
  const rawPods = await fixture<unknown>("libpod-pods-4.3.1.json");
  const entries = expectList(rawEntries, parseLibpodContainerEntry);
  const pods = expectList(rawPods, parseLibpodPodEntry);
  const worker = entries.find((e) => e.Id === WORKER)!;
  assert.deepEqual(
    podmanPodOf(worker, pods[0]),
    podmanPodOf(
      (rawEntries as LibpodContainerEntry[]).find((e) => e.Id === WORKER),
      (rawPods as LibpodPodEntry[])[0],
    ),
  );
  assert.equal(entries.find((e) => e.IsInfra)?.Id, INFRA);
  const inspect = await fixture<unknown>("inspect-pod-worker-4.3.1.json");
  assert.deepEqual(
    buildPodmanRecord({
      inspect: parseDockerInspect(inspect),
      entry: worker,
      runtimeEndpoint: ENDPOINT,
    }),
    buildPodmanRecord({
      inspect: inspect as DockerContainerInspect,
      entry: worker,
      runtimeEndpoint: ENDPOINT,
    }),
  );
  const version = parseDockerVersion(await fixture<unknown>("version-4.3.1.json"));
  assert.deepEqual(podmanEngineOf(version), { version: "4.3.1", apiVersion: "4.3.1" });
});

Deno.test("libpod entries with wrong-typed fields: those fields unsaid, the pod from what is left", () => {
  const entry = parseLibpodContainerEntry({ Id: WORKER, Pod: POD, PodName: 5, IsInfra: "no" });
  assert.deepEqual(entry, { Id: WORKER, Pod: POD });
  const pod = parseLibpodPodEntry({
    Id: POD,
    Name: "shop",
    Labels: { team: "blue", n: 1 },
    InfraId: [],
  });
  assert.deepEqual(pod, { Id: POD, Name: "shop", Labels: { team: "blue" } });
  assert.deepEqual(podmanPodOf(entry, pod), {
    sandbox_id: "",
    name: "shop",
    namespace: PODMAN_POD_NAMESPACE,
    uid: POD,
    labels: { team: "blue" },
  });
  assert.deepEqual(parseLibpodPodEntry({ Id: POD, Labels: "x" }), { Id: POD });
  // A Pod that is no string: outside any pod.
  assert.equal(podmanPodOf(parseLibpodContainerEntry({ Id: WORKER, Pod: 5 }), pod), null);
  for (const bad of [null, "x", {}, { Id: 5 }]) {
    assert.throws(() => parseLibpodContainerEntry(bad), MalformedAnswerError);
    assert.throws(() => parseLibpodPodEntry(bad), MalformedAnswerError);
  }
});

Deno.test("podmanEngineOf() of a /version with wrong-typed components: only well-typed ones count", () => {
  const version = parseDockerVersion({
    Version: "4.9.3",
    ApiVersion: "1.41",
    Components: [null, { Name: 5 }, { Name: "Podman Engine", Version: 4, Details: 7 }],
  });
  assert.deepEqual(podmanEngineOf(version), { version: "4.9.3", apiVersion: "4.9.3" });
  assert.equal(
    podmanEngineOf(parseDockerVersion({ ApiVersion: "1.41", Components: "x" })),
    undefined,
  );
});
