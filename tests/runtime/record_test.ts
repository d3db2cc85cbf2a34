import assert from "node:assert/strict";
import {
  buildContainerRecord,
  composeOf,
  imageIdOf,
  nsToRfc3339,
  type RecordSources,
  stripImageScheme,
} from "../../src/runtime/record.ts";
import { cgroupsPathToCgroupPath, parseContainerInfo } from "../../src/runtime/container_info.ts";
import type { CriContainerStatusResponse } from "../../src/runtime/cri_types.ts";

async function fixture(name: string): Promise<CriContainerStatusResponse> {
  const url = new URL(`../testdata/cri/${name}`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

Deno.test("parseContainerInfo() reads pid and cgroupsPath from containerd's verbose info", async () => {
  const response = await fixture("containerd-container-status-verbose.json");
  const info = parseContainerInfo(response.info);
  assert.equal(info.pid, 4376);
  assert.equal(
    info.specCgroupsPath,
    `/kubepods/besteffort/podc3a19f57-a788-4d29-9139-af582c4ac17e/${response.status!.id}`,
  );
});

Deno.test("parseContainerInfo() reads CRI-O's systemd-form cgroupsPath", async () => {
  const info = parseContainerInfo((await fixture("crio-container-status-verbose.json")).info);
  assert.equal(info.pid, 48213);
  assert.equal(
    info.specCgroupsPath,
    "kubepods-burstable-pod5f0c6a1e_3b2d_4c7e_9a10_2b3c4d5e6f70.slice:crio:610713dca419d7deb83a1246d0c1ee0ac2e23b81cbb29bba37147e88e1848cda",
  );
});

Deno.test("parseContainerInfo() gives cri-dockerd's pid and no cgroup path", async () => {
  const info = parseContainerInfo(
    (await fixture("cri-dockerd-container-status-verbose.json")).info,
  );
  assert.deepEqual(info, { pid: 51007 });
});

Deno.test("parseContainerInfo() returns nothing for absent or garbage info", () => {
  assert.deepEqual(parseContainerInfo(undefined), {});
  assert.deepEqual(parseContainerInfo({}), {});
  assert.deepEqual(parseContainerInfo({ info: "{not json" }), {});
  assert.deepEqual(parseContainerInfo({ info: "42" }), {});
  assert.deepEqual(parseContainerInfo({ info: '{"pid": -1, "runtimeSpec": 3}' }), {});
  assert.deepEqual(parseContainerInfo({ info: '{"pid": 0}' }), {});
});

Deno.test("cgroupsPathToCgroupPath() expands runc's systemd slice:prefix:name form", () => {
  const id = "610713dca419d7deb83a1246d0c1ee0ac2e23b81cbb29bba37147e88e1848cda";
  assert.equal(
    cgroupsPathToCgroupPath(`kubepods-burstable-pod5f0c6a1e_3b2d.slice:crio:${id}`),
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f0c6a1e_3b2d.slice/crio-${id}.scope`,
  );
  assert.equal(
    cgroupsPathToCgroupPath(`kubepods-pod12.slice:cri-containerd:${id}`),
    `/kubepods.slice/kubepods-pod12.slice/cri-containerd-${id}.scope`,
  );
  assert.equal(
    cgroupsPathToCgroupPath("system.slice:docker:abc"),
    "/system.slice/docker-abc.scope",
  );
  assert.equal(cgroupsPathToCgroupPath(":docker:abc"), "/docker-abc.scope");
  assert.equal(cgroupsPathToCgroupPath("/k8s.io/abc"), "/k8s.io/abc");
  assert.equal(cgroupsPathToCgroupPath("a:b"), undefined);
  assert.equal(cgroupsPathToCgroupPath("a.slice:b:"), undefined);
});

Deno.test("buildContainerRecord() takes pod fields from the sandbox when known", async () => {
  const response = await fixture("containerd-container-status-verbose.json");
  const status = response.status!;
  const record = buildContainerRecord({
    container: status,
    sandbox: {
      id: "e8c6a04f016ab2e774685acbed96b81c7bcd547173cd3a54484e5a3f8f2c6a65",
      metadata: {
        name: "foo",
        uid: "c3a19f57-a788-4d29-9139-af582c4ac17e",
        namespace: "demo",
        attempt: 0,
      },
      state: "SANDBOX_READY",
      createdAt: "1795991615551934264",
      labels: {
        app: "web",
        "io.kubernetes.pod.name": "foo",
        "io.kubernetes.pod.namespace": "demo",
        "io.kubernetes.pod.uid": "c3a19f57-a788-4d29-9139-af582c4ac17e",
      },
      annotations: {},
    },
    runtimeName: "containerd",
    runtimeEndpoint: "unix:///run/containerd/containerd.sock",
    process: { pid: 4376, cgroupPath: "/k8s.io/x", cgroupId: 253n, mntnsId: 4026532180n },
  });
  assert.equal(record.id, status.id);
  assert.equal(record.name, "app");
  assert.equal(record.state, "running");
  assert.equal(record.created, "2026-11-29T22:33:35.671544526Z");
  assert.equal(record.image, "crienrich.local/busybox:1");
  assert.equal(
    record.image_id,
    "sha256:4585d08ba811f60df6cc36162de620139686162de4e7b5305cdc43ee09cdb974",
  );
  assert.deepEqual(record.pod, {
    sandbox_id: "e8c6a04f016ab2e774685acbed96b81c7bcd547173cd3a54484e5a3f8f2c6a65",
    name: "foo",
    namespace: "demo",
    uid: "c3a19f57-a788-4d29-9139-af582c4ac17e",
    labels: { app: "web" },
  });
  assert.equal(record.pid, 4376);
  assert.equal(record.cgroup_id, 253);
  assert.equal(record.mntns_id, 4026532180);
  assert.deepEqual(record.annotations, { "io.kubernetes.container.restartCount": "0" });
  assert.equal(record.compose, null, "a pod's container is no Compose service");
});

Deno.test("buildContainerRecord() falls back to kubelet labels without a sandbox (cri-dockerd)", async () => {
  const response = await fixture("cri-dockerd-container-status-verbose.json");
  const record = buildContainerRecord({
    container: response.status!,
    runtimeName: "docker",
    runtimeEndpoint: "unix:///run/cri-dockerd.sock",
  });
  assert.equal(record.name, "web");
  assert.equal(record.pod?.name, "web-5c7b9d-x2k4q");
  assert.equal(record.pod?.namespace, "shop");
  assert.equal(record.pod?.uid, "5f0c6a1e-3b2d-4c7e-9a10-2b3c4d5e6f70");
  assert.equal(record.pod?.sandbox_id, "");
  assert.equal(record.image, "registry.example.com/shop/web:1.4.2");
  assert.equal(
    record.image_ref,
    "docker-pullable://registry.example.com/shop/web@sha256:ebbde58a4bbe357e599b29131e48c6f883a9cb7003571bf54243391a4f80aacf",
  );
  // No image id in the answer and no ImageStatus here: the digest of image_ref, unprefixed.
  assert.equal(
    record.image_id,
    "sha256:ebbde58a4bbe357e599b29131e48c6f883a9cb7003571bf54243391a4f80aacf",
  );
  assert.equal(record.pid, null);
  assert.equal(record.cgroup_id, null);
});

const ID_A = "sha256:4585d08ba811f60df6cc36162de620139686162de4e7b5305cdc43ee09cdb974";
const ID_B = "sha256:b29814cf5792e684cd75d6a7fce7a67a11887e312f87ca2ac2496d81f365ff72";
const DIGEST = "sha256:ebbde58a4bbe357e599b29131e48c6f883a9cb7003571bf54243391a4f80aacf";

/** A record from image fields only; the rest of the container is a fixed stub. */
function imageRecord(
  status: Partial<RecordSources["container"]>,
  extra: Omit<RecordSources, "container" | "runtimeName" | "runtimeEndpoint"> = {},
) {
  return buildContainerRecord({
    container: {
      id: "c".repeat(64),
      metadata: { name: "app", attempt: 0 },
      image: null,
      imageRef: "",
      state: "CONTAINER_RUNNING",
      createdAt: "0",
      labels: {},
      annotations: {},
      ...status,
    },
    runtimeName: "containerd",
    runtimeEndpoint: "unix:///run/containerd/containerd.sock",
    ...extra,
  });
}

Deno.test("buildContainerRecord() image: user_specified_image, else the list's, else the status's", () => {
  const tag = { image: "crienrich.local/alias:2" }; // containerd 1.6 status: the first tag
  // The kubelet sends the resolved id as image and the pod spec's name as user_specified_image.
  const kubelet = { image: ID_A, userSpecifiedImage: "crienrich.local/busybox:1" };
  const cases: [string, Partial<RecordSources["container"]>, RecordSources["listed"], string][] = [
    [
      "status carries the user's name",
      { image: kubelet },
      { image: { image: ID_A } },
      kubelet.userSpecifiedImage,
    ],
    ["only the list carries it", { image: tag }, { image: kubelet }, kubelet.userSpecifiedImage],
    ["containerd 1.6: list beats the status's first tag", { image: tag }, {
      image: { image: "crienrich.local/busybox:1" },
    }, "crienrich.local/busybox:1"],
    ["created by id: the id, not a tag", { image: tag }, { image: { image: ID_A } }, ID_A],
    ["no list: the status", { image: tag }, undefined, tag.image],
    ["empty list image: the status", { image: tag }, { image: { image: "" } }, tag.image],
    ["nothing at all", { image: null }, { image: null }, ""],
  ];
  for (const [why, status, listed, expected] of cases) {
    assert.equal(imageRecord(status, { listed }).image, expected, why);
  }
});

Deno.test("buildContainerRecord() image_id: CRI image_id, image_ref, requested id, ImageStatus, digest", () => {
  const name = { image: "registry.example.com/shop/web:1.4.2" };
  const digestRef = `registry.example.com/shop/web@${DIGEST}`;
  const cases: [
    string,
    Partial<RecordSources["container"]>,
    Omit<RecordSources, "container" | "runtimeName" | "runtimeEndpoint">,
    string,
  ][] = [
    ["status image_id first", { image: name, imageId: ID_A, imageRef: ID_B }, {}, ID_A],
    ["then the list's image_id", { image: name, imageRef: digestRef }, {
      listed: { image: name, imageId: ID_B },
    }, ID_B],
    [
      "then image_ref when an id (containerd 1.6, no repo digest)",
      { image: name, imageRef: ID_B },
      { resolvedImageId: ID_A },
      ID_B,
    ],
    ["cri-dockerd docker:// image_ref", { image: name, imageRef: `docker://${ID_A}` }, {}, ID_A],
    ["then the requested image when an id", { image: name, imageRef: digestRef }, {
      listed: { image: { image: ID_B } },
      resolvedImageId: ID_A,
    }, ID_B],
    [
      "then ImageStatus's id",
      { image: name, imageRef: digestRef },
      { resolvedImageId: ID_A },
      ID_A,
    ],
    ["CRI-O's bare hex ImageStatus id", { image: name, imageRef: digestRef }, {
      resolvedImageId: ID_A.slice(7),
    }, ID_A],
    [
      "then the digest of image_ref",
      { image: name, imageRef: `docker-pullable://${digestRef}` },
      {},
      DIGEST,
    ],
    ["nothing known", { image: name }, {}, ""],
  ];
  for (const [why, status, extra, expected] of cases) {
    assert.equal(imageRecord(status, extra).image_id, expected, why);
  }
});

Deno.test("buildContainerRecord() keeps image_ref as the runtime gives it", () => {
  const ref = `docker-pullable://registry.example.com/shop/web@${DIGEST}`;
  assert.equal(imageRecord({ imageRef: ref }).image_ref, ref);
});

Deno.test("stripImageScheme() drops docker-pullable://, docker:// and other schemes only", () => {
  const cases: [string, string][] = [
    [`docker-pullable://registry.example.com/web@${DIGEST}`, `registry.example.com/web@${DIGEST}`],
    [`docker://${ID_A}`, ID_A],
    [`containerd://${ID_A}`, ID_A],
    ["localhost:5000/web:1", "localhost:5000/web:1"],
    [ID_A, ID_A],
    ["", ""],
  ];
  for (const [input, expected] of cases) assert.equal(stripImageScheme(input), expected, input);
});

Deno.test("imageIdOf() accepts ids only, prefixed or bare, and rejects names and digest refs", () => {
  assert.equal(imageIdOf(ID_A), ID_A);
  assert.equal(imageIdOf(`docker://${ID_A}`), ID_A);
  assert.equal(imageIdOf(ID_A.slice(7)), ID_A); // CRI-O: bare hex
  for (
    const garbage of [
      "",
      "busybox:1",
      `registry.example.com/web@${DIGEST}`,
      `docker-pullable://registry.example.com/web@${DIGEST}`,
      "sha256:abc",
      ID_A.toUpperCase(),
      `${ID_A}0`,
      `sha512:${"0".repeat(128)}`,
    ]
  ) {
    assert.equal(imageIdOf(garbage), undefined, garbage);
  }
});

Deno.test("nsToRfc3339() keeps nanoseconds and rejects zero and garbage", () => {
  assert.equal(nsToRfc3339("1795991615000000001"), "2026-11-29T22:33:35.000000001Z");
  assert.equal(nsToRfc3339(0n), "");
  assert.equal(nsToRfc3339("x"), "");
});

Deno.test("composeOf() reads Compose's project and service labels, null without a project", () => {
  const cases: [Record<string, string>, ReturnType<typeof composeOf>][] = [
    [
      { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" },
      { project: "shop", service: "web" },
    ],
    [{ "com.docker.compose.project": "shop" }, { project: "shop", service: "" }],
    [{ "com.docker.compose.service": "web" }, null],
    [{ "com.docker.compose.project": "", "com.docker.compose.service": "web" }, null],
    [{ app: "web" }, null],
    [{}, null],
  ];
  for (const [labels, want] of cases) {
    assert.deepEqual(composeOf(labels), want, JSON.stringify(labels));
  }
});

Deno.test("buildContainerRecord() gives a CRI container with Compose labels its project", () => {
  const record = buildContainerRecord({
    container: {
      id: "c".repeat(64),
      metadata: { name: "web", attempt: 0 },
      image: { image: "busybox" },
      imageRef: "",
      state: "CONTAINER_RUNNING",
      createdAt: "0",
      labels: { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" },
      annotations: {},
    },
    runtimeName: "containerd",
    runtimeEndpoint: "unix:///run/containerd/containerd.sock",
  });
  assert.deepEqual(record.compose, { project: "shop", service: "web" });
});
