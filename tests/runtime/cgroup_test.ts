import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CgroupContainerRef,
  cgroupIdOfPath,
  cgroupLayout,
  findCgroupV2Root,
  parseCgroupPath,
  parseProcCgroup,
  unifiedCgroupPath,
} from "../../src/runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "../../src/runtime/proc.ts";
import { NotFoundError, NotSupportedError } from "../../src/errors.ts";

const ID = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
const ID2 = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
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
  // Nested: the outermost container wins.
  [`/docker/${ID}/docker/${ID2}`, { runtime: "docker", containerId: ID }],
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
