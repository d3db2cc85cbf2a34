import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CgroupCandidate,
  type CgroupContainerRef,
  cgroupIdOfPath,
  cgroupLayout,
  cgroupPathAgrees,
  cgroupSegments,
  containerCandidates,
  findCgroupV2Root,
  parseCgroupPath,
  parseProcCgroup,
  unifiedCgroupPath,
} from "../../src/runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "../../src/runtime/proc.ts";
import { NotFoundError, NotSupportedError } from "../../src/errors.ts";

const ID = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
const ID2 = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
/** The outer container of nested layouts: a kind node or a docker-in-docker host. */
const OUTER = "0b1f5d2e9c8a7b6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29";
const UID = "1f3b5c7d-2222-4a4a-9b9b-0123456789ab";
const UID_ = UID.replaceAll("-", "_");
const STATIC_UID = "6e8c4b2a0f1d3e5c7a9b8d6f4e2c0a1b"; // kubelet: md5 of the static pod manifest
/** Above PID_MAX_LIMIT (2^22), so never a live process. */
const NO_SUCH_PID = 2 ** 22 + 1;

// --- parseCgroupPath ---------------------------------------------------------------------

Deno.test("parseCgroupPath() extracts runtime and id from every recorded node layout", async (t) => {
  const text = await Deno.readTextFile(new URL("../testdata/cgroup-paths.txt", import.meta.url));
  const rows = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
  assert.ok(rows.length >= 25, `expected the recorded cases, got ${rows.length}`);
  for (const row of rows) {
    const [path = "", runtime = "", id = "", where = ""] = row.split("\t");
    await t.step(`${where}: ${path.slice(0, 60)}`, () => {
      const ref = parseCgroupPath(path);
      if (id === "") {
        assert.equal(ref, undefined);
      } else {
        assert.equal(ref?.runtime, runtime);
        assert.equal(ref?.containerId, id);
      }
    });
  }
});

const OWN_CASES: [string, CgroupContainerRef | undefined][] = [
  // Pod uid and QoS class, both drivers.
  [`/kubepods/besteffort/pod${UID}/${ID}`, {
    runtime: "unknown",
    containerId: ID,
    podUid: UID,
    qosClass: "besteffort",
  }],
  [`/kubepods/pod${UID}/${ID}`, {
    runtime: "unknown",
    containerId: ID,
    podUid: UID,
    qosClass: "guaranteed",
  }],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { runtime: "containerd", containerId: ID, podUid: UID, qosClass: "burstable" },
  ],
  [`/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`, {
    runtime: "docker",
    containerId: ID,
    podUid: UID,
    qosClass: "guaranteed",
  }],
  [`kubepods-besteffort-pod${UID_}.slice:crio:${ID}`, {
    runtime: "cri-o",
    containerId: ID,
    podUid: UID,
    qosClass: "besteffort",
  }],
  // kind: kubelet --cgroup-root=/kubelet adds a prefix to every level.
  [
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { runtime: "containerd", containerId: ID, podUid: UID, qosClass: "besteffort" },
  ],
  [`/kubelet/kubepods/burstable/pod${UID}/${ID}`, {
    runtime: "unknown",
    containerId: ID,
    podUid: UID,
    qosClass: "burstable",
  }],
  // Static pods: the uid is 32 hex digits.
  [`/kubepods/burstable/pod${STATIC_UID}/${ID}`, {
    runtime: "unknown",
    containerId: ID,
    podUid: STATIC_UID,
    qosClass: "burstable",
  }],
  // A `pod…` segment outside kubepods is not a pod.
  [`/custom/pod${UID}/${ID}`, { runtime: "unknown", containerId: ID }],
  // Other `slice:prefix:name` writers.
  [`system.slice:docker:${ID}`, { runtime: "docker", containerId: ID }],
  [`machine.slice:libpod:${ID}`, { runtime: "podman", containerId: ID }],
  [`:cri-containerd:${ID}`, { runtime: "containerd", containerId: ID }],
  [`system.slice:unknownprefix:${ID}`, undefined],
  [`a:b`, undefined],
  [`a:b:c:${ID}`, undefined],
  // Trailing and doubled slashes.
  [`/docker/${ID}/`, { runtime: "docker", containerId: ID }],
  [`//docker//${ID}`, { runtime: "docker", containerId: ID }],
  // Nested (kind node, docker-in-docker): the innermost container wins.
  [`/docker/${ID}/docker/${ID2}`, { runtime: "docker", containerId: ID2 }],
  [`/docker/${OUTER}/kubepods/besteffort/pod${UID}/${ID}`, {
    runtime: "unknown",
    containerId: ID,
    podUid: UID,
    qosClass: "besteffort",
  }],
  [
    `/docker/${OUTER}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { runtime: "containerd", containerId: ID, podUid: UID, qosClass: "besteffort" },
  ],
  [`/docker/${OUTER}/system.slice/cri-containerd-${ID}.scope`, {
    runtime: "containerd",
    containerId: ID,
  }],
  [`/system.slice/docker-${OUTER}.scope/kubepods/pod${UID}/crio-${ID}.scope/container`, {
    runtime: "cri-o",
    containerId: ID,
    podUid: UID,
    qosClass: "guaranteed",
  }],
  // The outer container's pod is not the inner one's.
  [`/kubepods/burstable/pod${UID}/${OUTER}/docker/${ID}`, { runtime: "docker", containerId: ID }],
  // A forged sub-cgroup named like another container: the innermost claim, unverified
  // (containerCandidates() lists the outer one too).
  [`/k8s.io/${ID}/${ID2}`, { runtime: "unknown", containerId: ID2 }],
  // conmon hides itself and what is below it; an outer container (a kind node) stays.
  [`/docker/${OUTER}/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`, {
    runtime: "docker",
    containerId: OUTER,
  }],
  [`/docker/${OUTER}/machine.slice/libpod-conmon-${ID}.scope/libpod-${ID2}.scope`, {
    runtime: "docker",
    containerId: OUTER,
  }],
  // A systemd-form cgroupsPath used literally as a directory (runc's cgroupfs driver).
  [
    `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`,
    { runtime: "containerd", containerId: ID, podUid: UID, qosClass: "burstable" },
  ],
  [`/system.slice/crio.service/kubepods-pod${UID_}.slice:crio:${ID}`, {
    runtime: "cri-o",
    containerId: ID,
    podUid: UID,
    qosClass: "guaranteed",
  }],
  [`/system.slice/crio.service/kubepods-besteffort-pod${UID_}.slice:crio:${ID}/container`, {
    runtime: "cri-o",
    containerId: ID,
    podUid: UID,
    qosClass: "besteffort",
  }],
  [
    `/docker/${OUTER}/system.slice/containerd.service/kubepods-besteffort-pod${UID_}.slice:cri-containerd:${ID}`,
    { runtime: "containerd", containerId: ID, podUid: UID, qosClass: "besteffort" },
  ],
  [`/system.slice/containerd.service/system.slice:unknownprefix:${ID}`, undefined],
  [`/system.slice/containerd.service/kubepods.slice:cri-containerd:kubepods-x.slice`, undefined],
  // Relative cgroupfs cgroupsPath as CRI-O reports it; a relative bare id is not one.
  [`pod_123-456/crio-${ID}`, { runtime: "cri-o", containerId: ID }],
  [`crio-${ID}`, { runtime: "cri-o", containerId: ID }],
  [`pod_123-456/crio-conmon-${ID}`, undefined],
  [`pod_123-456/${ID}`, undefined],
  [`pod_123-456/crio-${ID}/x`, undefined],
  [`a:b/crio-${ID}`, undefined],
  // nerdctl: systemd scope and its cgroupsPath.
  [`/system.slice/nerdctl-${ID}.scope`, { runtime: "containerd", containerId: ID }],
  [`system.slice:nerdctl:${ID}`, { runtime: "containerd", containerId: ID }],
  [`/system.slice/nerdctl-${ID}`, undefined],
  // `.` and `..` segments never yield an id.
  [`/kubepods/besteffort/pod${UID}/../${ID}`, undefined],
  [`/../../kubepods/besteffort/pod${UID}/${ID}`, undefined],
  [`/docker/./${ID}`, undefined],
  [`/docker/${ID}/..`, undefined],
  [`/docker/${ID}/.`, undefined],
  [`pod_123-456/../crio-${ID}`, undefined],
  [`./crio-${ID}`, undefined],
  [`/system.slice/docker-${ID}.scope/init.scope`, { runtime: "docker", containerId: ID }],
  [`/kubepods/burstable/pod${UID}/${ID}/system.slice/cron.service`, {
    runtime: "unknown",
    containerId: ID,
    podUid: UID,
    qosClass: "burstable",
  }],
  [`/machine.slice/libpod-conmon-${ID}.scope/libpod-${ID2}.scope`, undefined],
  [`/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`, undefined],
  // Not an id: case, length, decoration.
  [`/docker/${ID.toUpperCase()}`, undefined],
  [`/system.slice/docker-${ID.toUpperCase()}.scope`, undefined],
  [`/docker/${ID.slice(1)}`, undefined],
  [`/docker/${ID}0`, undefined],
  [`/system.slice/docker-${ID.slice(1)}.scope`, undefined],
  [`/docker/${ID}\n`, undefined],
  [`/docker/ ${ID}`, undefined],
  // Not a bare path: the `0::` prefix is the caller's to strip, and paths are absolute.
  [`0::/docker/${ID}`, undefined],
  [`docker/${ID}`, undefined],
  // Garbage.
  ["", undefined],
  ["garbage", undefined],
  ["/docker/", undefined],
  ["::", undefined],
  ["/../../..", undefined],
  ["/\u0000/\uffff", undefined],
];

Deno.test("parseCgroupPath() extracts pod, runtime and id from own cases", async (t) => {
  for (const [path, expected] of OWN_CASES) {
    await t.step(JSON.stringify(path.slice(-90)), () => {
      assert.deepEqual(parseCgroupPath(path), expected);
    });
  }
});

Deno.test("parseCgroupPath() extracts ids from very long input in linear time", () => {
  const started = performance.now();
  const deep = `/${"a/".repeat(200_000)}docker/${ID}`;
  assert.deepEqual(parseCgroupPath(deep), { runtime: "docker", containerId: ID });
  const dashes = `/${"x-".repeat(500_000)}kubepods-pod.slice/docker-${ID}.scope`;
  assert.deepEqual(parseCgroupPath(dashes), { runtime: "docker", containerId: ID });
  assert.equal(parseCgroupPath(`/${"f".repeat(1_000_000)}`), undefined);
  assert.equal(parseCgroupPath(`${"a:".repeat(500_000)}`), undefined);
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs < 2_000, `took ${elapsedMs} ms`);
});

// --- cgroupSegments ----------------------------------------------------------------------

const SEGMENT_CASES: [string, string[] | undefined][] = [
  ["/", []],
  [`/docker/${ID}`, ["docker", ID]],
  // Doubled and trailing slashes are dropped, as runc cleans a cgroupsPath.
  [`//docker//${ID}/`, ["docker", ID]],
  // Paths with `:` stay one segment.
  ["/a:b/c", ["a:b", "c"]],
  [`kubepods-pod${UID_}.slice:crio:${ID}`, [`kubepods-pod${UID_}.slice:crio:${ID}`]],
  [`:cri-containerd:${ID}`, [`:cri-containerd:${ID}`]],
  [`pod_123-456/crio-${ID}`, ["pod_123-456", `crio-${ID}`]],
  [`system.slice/nerdctl-${ID}.scope`, ["system.slice", `nerdctl-${ID}.scope`]],
  // `.` and `..` anywhere.
  ["/..", undefined],
  ["/.", undefined],
  [`/../../kubepods/pod${UID}/${ID}`, undefined],
  [`/docker/./${ID}`, undefined],
  [`pod_123-456/../crio-${ID}`, undefined],
  // Relative paths that are not clearly a cgroupsPath.
  ["", undefined],
  ["garbage", undefined],
  [`docker/${ID}`, undefined],
  [`0::/docker/docker-${ID}.scope`, undefined],
  [`crio-${ID}/container`, undefined],
  ["a:b", undefined],
];

Deno.test("cgroupSegments() splits paths and clear cgroupsPaths, rejects `.` and `..`", async (t) => {
  for (const [path, expected] of SEGMENT_CASES) {
    await t.step(JSON.stringify(path.slice(-90)), () => {
      assert.deepEqual(cgroupSegments(path), expected);
    });
  }
});

// --- containerCandidates -----------------------------------------------------------------

function candidatesOf(path: string): CgroupCandidate[] {
  const segments = cgroupSegments(path);
  assert.ok(segments, path);
  return containerCandidates(segments);
}

Deno.test("containerCandidates() lists every container of a nested path, innermost first", () => {
  assert.deepEqual(candidatesOf(`/docker/${OUTER}/kubepods/besteffort/pod${UID}/${ID}`), [
    { runtime: "unknown", containerId: ID, podUid: UID, qosClass: "besteffort", segmentIndex: 5 },
    { runtime: "docker", containerId: OUTER, segmentIndex: 1 },
  ]);
  assert.deepEqual(
    candidatesOf(
      `/docker/${OUTER}/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}/container`,
    ),
    [
      {
        runtime: "containerd",
        containerId: ID,
        podUid: UID,
        qosClass: "burstable",
        segmentIndex: 4,
      },
      { runtime: "docker", containerId: OUTER, segmentIndex: 1 },
    ],
  );
  // Three levels: kind in docker-in-docker.
  assert.deepEqual(
    candidatesOf(`/docker/${OUTER}/docker/${ID2}/kubepods/pod${UID}/${ID}`).map((c) => [
      c.containerId,
      c.segmentIndex,
    ]),
    [[ID, 6], [ID2, 3], [OUTER, 1]],
  );
});

Deno.test("containerCandidates() lists a forged sub-cgroup's owner after the forged id", () => {
  assert.deepEqual(candidatesOf(`/k8s.io/${ID}/${ID2}`), [
    { runtime: "unknown", containerId: ID2, segmentIndex: 2 },
    { runtime: "containerd", containerId: ID, segmentIndex: 1 },
  ]);
});

Deno.test("containerCandidates() extracts containers from tails without their parents", () => {
  // The kernel's tail may start anywhere; layouts needing a parent degrade, never crash.
  assert.deepEqual(containerCandidates([`pod${UID}`, ID]), [
    { runtime: "unknown", containerId: ID, segmentIndex: 1 },
  ]);
  assert.deepEqual(containerCandidates([ID]), [
    { runtime: "unknown", containerId: ID, segmentIndex: 0 },
  ]);
  assert.deepEqual(containerCandidates(["besteffort", `pod${UID}`, ID]), [
    { runtime: "unknown", containerId: ID, segmentIndex: 2 },
  ]);
  assert.deepEqual(containerCandidates([`crio-${ID}.scope`, "container"]), [
    { runtime: "cri-o", containerId: ID, segmentIndex: 0 },
  ]);
  assert.deepEqual(
    containerCandidates([`kubepods-besteffort-pod${UID_}.slice`, `cri-containerd-${ID}.scope`]),
    [{
      runtime: "containerd",
      containerId: ID,
      podUid: UID,
      qosClass: "besteffort",
      segmentIndex: 1,
    }],
  );
  assert.deepEqual(containerCandidates([]), []);
  assert.deepEqual(containerCandidates(["", "..", "container"]), []);
});

Deno.test("containerCandidates() stops at conmon and keeps outer containers", () => {
  assert.deepEqual(candidatesOf(`/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`), []);
  assert.deepEqual(
    candidatesOf(`/docker/${OUTER}/machine.slice/libpod-conmon-${ID}.scope/libpod-${ID2}.scope`),
    [{ runtime: "docker", containerId: OUTER, segmentIndex: 1 }],
  );
});

// --- cgroupPathAgrees --------------------------------------------------------------------

const CRIO_SCOPE =
  `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`;

/** [what, record paths, process path (or segments), which candidate (0 innermost), expected] */
const AGREE_CASES: [string, string[], string | string[], number, boolean][] = [
  [
    "kind node: the record is relative to the node's cgroup namespace",
    [`/kubepods/besteffort/pod${UID}/${ID}`],
    `/docker/${OUTER}/kubepods/besteffort/pod${UID}/${ID}`,
    0,
    true,
  ],
  [
    "forged sub-cgroup: B's record is not under A",
    [`/k8s.io/${ID2}`],
    `/k8s.io/${ID}/${ID2}`,
    0,
    false,
  ],
  ["forged sub-cgroup: A's record holds it", [`/k8s.io/${ID}`], `/k8s.io/${ID}/${ID2}`, 1, true],
  ["same path", [`/k8s.io/${ID}`], `/k8s.io/${ID}`, 0, true],
  ["another container's record", [`/k8s.io/${ID2}`], `/k8s.io/${ID}`, 0, false],
  [
    "another parent",
    [`/kubepods/burstable/pod${UID}/${ID}`],
    `/kubepods/besteffort/pod${UID}/${ID}`,
    0,
    false,
  ],
  ["crun: both in `container`", [`${CRIO_SCOPE}/container`], `${CRIO_SCOPE}/container`, 0, true],
  ["crun: record in `container`, spec path not", [`${CRIO_SCOPE}/container`], CRIO_SCOPE, 0, true],
  ["crun: record's scope only", [CRIO_SCOPE], `${CRIO_SCOPE}/container`, 0, true],
  [
    "spec cgroupsPath literal against the expanded scope",
    [`kubepods-burstable-pod${UID_}.slice:crio:${ID}`],
    CRIO_SCOPE,
    0,
    true,
  ],
  [
    "spec cgroupsPath literal of another slice",
    [`kubepods-besteffort-pod${UID_}.slice:crio:${ID}`],
    CRIO_SCOPE,
    0,
    false,
  ],
  [
    "spec cgroupsPath literal of another runtime prefix",
    [`kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`],
    CRIO_SCOPE,
    0,
    false,
  ],
  [
    "spec cgroupsPath literal used as a directory",
    [`kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`],
    `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`,
    0,
    true,
  ],
  [
    "relative cgroupfs cgroupsPath",
    [`pod_123-456/crio-${ID}`],
    `/system.slice/pod_123-456/crio-${ID}`,
    0,
    true,
  ],
  [
    "relative cgroupfs cgroupsPath of another parent",
    [`pod_123-456/crio-${ID}`],
    `/system.slice/pod_999/crio-${ID}`,
    0,
    false,
  ],
  [
    "one of several record paths agrees",
    [`/../../kubepods/pod${UID}/${ID}`, "garbage", `/kubepods/pod${UID}/${ID}`],
    `/kubepods/pod${UID}/${ID}`,
    0,
    true,
  ],
  [
    "record path with `..` is skipped",
    [`/../kubepods/pod${UID}/${ID}`],
    `/kubepods/pod${UID}/${ID}`,
    0,
    false,
  ],
  ["no record paths", [], `/kubepods/pod${UID}/${ID}`, 0, false],
  ["record is the root", ["/"], `/kubepods/pod${UID}/${ID}`, 0, false],
  [
    "tail: the record is longer",
    [`/kubepods/besteffort/pod${UID}/${ID}`],
    [`pod${UID}`, ID],
    0,
    true,
  ],
  ["tail of another pod", [`/kubepods/besteffort/pod${UID}/${ID}`], [`podx`, ID], 0, false],
];

Deno.test("cgroupPathAgrees() compares a record's paths backwards from the candidate", async (t) => {
  for (const [what, recordPaths, process, which, expected] of AGREE_CASES) {
    await t.step(what, () => {
      const segments = typeof process === "string" ? cgroupSegments(process) : process;
      assert.ok(segments, String(process));
      const candidate = containerCandidates(segments)[which];
      assert.ok(candidate, `candidate ${which} of ${process}`);
      assert.equal(cgroupPathAgrees(recordPaths, segments, candidate), expected);
    });
  }
});

Deno.test("cgroupPathAgrees() rejects a candidate outside the segments", () => {
  const candidate = { runtime: "unknown", containerId: ID, segmentIndex: 3 } as const;
  assert.equal(cgroupPathAgrees([`/k8s.io/${ID}`], ["k8s.io", ID], candidate), false);
  assert.equal(cgroupPathAgrees([`/k8s.io/${ID}`], [], { ...candidate, segmentIndex: -1 }), false);
});

// --- parseProcCgroup / unifiedCgroupPath --------------------------------------------------

const HYBRID_PROC_CGROUP = `12:pids:/docker/${ID}
11:cpu,cpuacct:/docker/${ID}
1:name=systemd:/docker/${ID}
0::/docker/${ID}
`;

Deno.test("parseProcCgroup() extracts hierarchies, controllers and paths", () => {
  assert.deepEqual(parseProcCgroup(HYBRID_PROC_CGROUP), [
    { hierarchyId: 12, controllers: ["pids"], path: `/docker/${ID}`, deleted: false },
    { hierarchyId: 11, controllers: ["cpu", "cpuacct"], path: `/docker/${ID}`, deleted: false },
    { hierarchyId: 1, controllers: ["name=systemd"], path: `/docker/${ID}`, deleted: false },
    { hierarchyId: 0, controllers: [], path: `/docker/${ID}`, deleted: false },
  ]);
});

Deno.test("parseProcCgroup() extracts paths with colons and the deleted mark", () => {
  assert.deepEqual(parseProcCgroup("0::/a:b/c (deleted)\n\n"), [
    { hierarchyId: 0, controllers: [], path: "/a:b/c", deleted: true },
  ]);
  assert.deepEqual(parseProcCgroup(""), []);
});

Deno.test("parseProcCgroup() rejects lines not in the cgroups(7) format", () => {
  for (const text of ["garbage", "0:/x", "x::/", "0::relative", `kubepods-pod.slice:crio:${ID}`]) {
    assert.throws(() => parseProcCgroup(text), SyntaxError, text);
  }
});

Deno.test("unifiedCgroupPath() extracts the 0:: path, or undefined on v1-only nodes", () => {
  assert.equal(unifiedCgroupPath(HYBRID_PROC_CGROUP), `/docker/${ID}`);
  assert.equal(unifiedCgroupPath("0::/\n"), "/");
  assert.equal(
    unifiedCgroupPath(`4:memory:/docker/${ID}\n1:name=systemd:/docker/${ID}\n`),
    undefined,
  );
});

// --- findCgroupV2Root / cgroupLayout ------------------------------------------------------

/** Debian 12 / Ubuntu 22.04: systemd's unified mode. */
const MOUNTINFO_V2 = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
27 22 0:24 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
`;

/** Ubuntu 20.04: systemd's hybrid mode. */
const MOUNTINFO_HYBRID =
  `24 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
26 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
29 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
30 24 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
`;

/** CentOS 7: v1 only. */
const MOUNTINFO_V1 =
  `24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,seclabel,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,seclabel,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,seclabel,pids
`;

Deno.test("findCgroupV2Root() extracts the cgroup2 mount point of each layout", () => {
  assert.equal(findCgroupV2Root(MOUNTINFO_V2), "/sys/fs/cgroup");
  assert.equal(findCgroupV2Root(MOUNTINFO_HYBRID), "/sys/fs/cgroup/unified");
  assert.equal(findCgroupV2Root(MOUNTINFO_V1), undefined);
  assert.equal(findCgroupV2Root(""), undefined);
});

Deno.test("findCgroupV2Root() prefers the whole tree, unescapes, and skips hidden mounts", () => {
  // In a container: its own sub-tree first, the host's whole tree under --host-root later.
  const container = `500 400 0:23 /kubepods/pod${UID}/${ID} /sys/fs/cgroup ro - cgroup2 cgroup rw
501 400 0:23 / /host/sys/fs\\040cgroup rw,relatime - cgroup2 cgroup2 rw
`;
  assert.equal(findCgroupV2Root(container), "/host/sys/fs cgroup");
  const overmounted = `${MOUNTINFO_V2}40 22 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n`;
  assert.equal(findCgroupV2Root(overmounted), undefined);
});

Deno.test("cgroupLayout() extracts v2, hybrid or v1 from mountinfo", () => {
  assert.equal(cgroupLayout(MOUNTINFO_V2), "v2");
  assert.equal(cgroupLayout(MOUNTINFO_HYBRID), "hybrid");
  assert.equal(cgroupLayout(MOUNTINFO_V1), "v1");
  assert.throws(() => cgroupLayout("22 28 0:21 / /sys rw - sysfs sysfs rw\n"), NotSupportedError);
});

// --- procfs fixtures ----------------------------------------------------------------------

async function withProcFixture(
  files: Record<string, string>,
  fn: (procRoot: string) => Promise<void>,
) {
  const procRoot = await Deno.makeTempDir({ prefix: "crienrich-proc-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(procRoot, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(procRoot, name), text);
    }
    await fn(procRoot);
  } finally {
    await Deno.remove(procRoot, { recursive: true });
  }
}

Deno.test("cgroupPathOfPid() extracts the v2 path, else a v1 fallback, under a proc root", async () => {
  await withProcFixture({
    "10/cgroup": HYBRID_PROC_CGROUP,
    "11/cgroup": `4:memory:/mem\n3:pids:/pids\n1:name=systemd:/systemd\n`,
    "12/cgroup": `4:memory:/mem\n3:pids:/pids\n`,
    "13/cgroup": `4:memory:/mem\n`,
    "14/cgroup": `2:cpu:/cpu\n`,
  }, async (procRoot) => {
    assert.equal(await cgroupPathOfPid(10, procRoot), `/docker/${ID}`);
    assert.equal(await cgroupPathOfPid(11, procRoot), "/systemd");
    assert.equal(await cgroupPathOfPid(12, procRoot), "/pids");
    assert.equal(await cgroupPathOfPid(13, procRoot), "/mem");
    await assert.rejects(cgroupPathOfPid(14, procRoot), NotSupportedError);
    await assert.rejects(cgroupPathOfPid(15, procRoot), NotFoundError);
  });
});

Deno.test("cgroupPathOfPid() and mountNamespaceIdOfPid() reject bad and missing pids", async () => {
  for (const pid of [0, -1, 1.5, NaN]) {
    await assert.rejects(cgroupPathOfPid(pid), RangeError);
    await assert.rejects(mountNamespaceIdOfPid(pid), RangeError);
  }
  await assert.rejects(cgroupPathOfPid(NO_SUCH_PID), (error: unknown) => {
    assert.ok(error instanceof NotFoundError);
    assert.match(error.message, new RegExp(`"/proc/${NO_SUCH_PID}/cgroup": no such process$`));
    return true;
  });
  await assert.rejects(mountNamespaceIdOfPid(NO_SUCH_PID), NotFoundError);
});

Deno.test("cgroupIdOfPath() rejects relative paths and paths leaving the tree", async () => {
  for (const path of ["", "k8s.io/x", "/../etc", "/a/../../b"]) {
    await assert.rejects(cgroupIdOfPath(path, "/nonexistent"), RangeError, path);
  }
});

// --- real checks on this machine ----------------------------------------------------------

async function run(...args: string[]): Promise<string> {
  const [cmd = "", ...rest] = args;
  const out = await new Deno.Command(cmd, { args: rest, stderr: "inherit" }).output();
  assert.ok(out.success, `${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("cgroupPathOfPid() equals the 0:: line of /proc/self/cgroup", async () => {
  const text = await Deno.readTextFile("/proc/self/cgroup");
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  assert.ok(line, "this machine has a cgroup v2 tree");
  assert.equal(await cgroupPathOfPid(Deno.pid), line.slice(3));
});

Deno.test("findCgroupV2Root() finds a live cgroup v2 tree", async () => {
  const root = findCgroupV2Root();
  assert.ok(root);
  assert.ok((await Deno.stat(join(root, "cgroup.controllers"))).isFile);
  assert.notEqual(cgroupLayout(), "v1");
});

Deno.test("cgroupIdOfPath() equals the inode `stat -c %i` shows", async () => {
  const path = await cgroupPathOfPid(Deno.pid);
  const root = findCgroupV2Root();
  assert.ok(root);
  assert.equal(await cgroupIdOfPath(path), BigInt(await run("stat", "-c", "%i", join(root, path))));
  assert.equal(await cgroupIdOfPath("/crienrich-no-such-cgroup"), undefined);
  assert.equal(await cgroupIdOfPath("/cgroup.procs"), undefined);
});

Deno.test("mountNamespaceIdOfPid() equals the number readlink shows", async () => {
  const link = await run("readlink", `/proc/${Deno.pid}/ns/mnt`);
  const number = /^mnt:\[(\d+)\]$/.exec(link)?.[1];
  assert.ok(number, link);
  assert.equal(await mountNamespaceIdOfPid(Deno.pid), BigInt(number));
});

const isRoot = Deno.uid() === 0;

Deno.test({
  name: "cgroupPathOfPid() and cgroupIdOfPath() extract a process moved into a docker-like scope",
  // Creating cgroups needs root; under CI a skip is a failure.
  ignore: !isRoot && Deno.env.get("CI") !== "true",
  async fn() {
    const root = findCgroupV2Root();
    assert.ok(root);
    const parent = `/crienrich-test-${Deno.pid}`;
    const path = `${parent}/docker-${ID}.scope`;
    await Deno.mkdir(join(root, path), { recursive: true });
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      await Deno.writeTextFile(join(root, path, "cgroup.procs"), String(child.pid));
      assert.equal(await cgroupPathOfPid(child.pid), path);
      assert.deepEqual(parseCgroupPath(path), { runtime: "docker", containerId: ID });
      const id = await cgroupIdOfPath(path);
      assert.equal(id, BigInt(await run("stat", "-c", "%i", join(root, path))));
      assert.equal(await mountNamespaceIdOfPid(child.pid), await mountNamespaceIdOfPid(Deno.pid));
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(join(root, path));
      await Deno.remove(join(root, parent));
    }
    assert.equal(await cgroupIdOfPath(path), undefined);
  },
});

Deno.test("containerCandidates() takes any containerd id in containerd's /<namespace>/<id>", () => {
  const hex = "a".repeat(64);
  for (
    const [path, id] of [
      ["/default/job1", "job1"],
      ["/buildkit/abc_1.x", "abc_1.x"],
      [`/default/${hex}`, hex],
    ] as const
  ) {
    assert.deepEqual(
      containerCandidates(cgroupSegments(path)!),
      [{ runtime: "unknown", containerId: id, segmentIndex: 1 }],
      path,
    );
  }
  // Host cgroups and other layouts' parents are no containerd namespace.
  for (
    const path of [
      "/",
      "/init.scope",
      "/system.slice/ssh.service",
      "/user.slice/user-0.slice",
      "/kubepods/besteffort",
      "/libpod_parent/conmon",
      "/docker/notanid",
      "/k8s.io/job1",
      "/default/job1/sub",
      "/default/bad..id",
    ]
  ) {
    assert.deepEqual(containerCandidates(cgroupSegments(path)!), [], path);
  }
});

Deno.test("containerCandidates(): other layouts' names are not containerd ids", () => {
  const hex = "b".repeat(64);
  assert.deepEqual(containerCandidates(cgroupSegments(`/x/libpod-conmon-${hex}`)!), []);
  assert.equal(containerCandidates(cgroupSegments(`/x/crio-${hex}`)!)[0]?.runtime, "cri-o");
});
