/**
 * The lab and the demo are as clean as the tool: pod cgroups go with their pods, and a
 * failed `demo.sh --exec` is one line with a non-zero exit code.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { realTest, withLab } from "../harness/real.ts";
import type { LabPod } from "../../scripts/lab/lab.ts";

const demoScript = fileURLToPath(new URL("../../scripts/demo.ts", import.meta.url));

/** Every directory of `pod`'s cgroup, in every hierarchy mounted under /sys/fs/cgroup. */
async function podCgroupDirs(pod: LabPod): Promise<string[]> {
  const found: string[] = [];
  for await (const hierarchy of Deno.readDir("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", hierarchy.name, `kubepods/besteffort/pod${pod.uid}`);
    if (await Deno.stat(dir).then(() => true, () => false)) found.push(dir);
  }
  // A pure v2 host mounts the tree at /sys/fs/cgroup itself.
  const v2 = join("/sys/fs/cgroup", `kubepods/besteffort/pod${pod.uid}`);
  if (await Deno.stat(v2).then(() => true, () => false)) found.push(v2);
  return found;
}

async function demo(
  dir: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", demoScript, ...args],
    env: { CRIENRICH_DEMO_DIR: dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

realTest("Lab.removePod() and Lab.stop() remove the pods' cgroups in every hierarchy", async () => {
  let kept: LabPod | undefined;
  await withLab(async (lab) => {
    const pod = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
    await lab.runContainer(pod, "app");
    const dirs = await podCgroupDirs(pod);
    assert.ok(dirs.some((d) => d.includes("/unified/") || !/\/sys\/fs\/cgroup\/[a-z]/.test(d)));
    assert.ok(dirs.length >= 1, "the pod's cgroup exists while it runs");
    await lab.removePod(pod);
    assert.deepEqual(await podCgroupDirs(pod), [], "removed with the pod");
    kept = await lab.runPod({ name: "bar", namespace: "demo", cgroupParent: "kubelet" });
    await lab.runContainer(kept, "app");
    assert.notDeepEqual(await podCgroupDirs(kept), []);
  });
  assert.deepEqual(await podCgroupDirs(kept!), [], "removed when the lab stops");
});

realTest(
  "demo.sh --exec: one line and exit 127 for a missing command; --stop cleans up",
  async () => {
    await withLab(async (lab) => {
      const none = await demo(lab.dir, ["--exec", "/bin/true"]);
      assert.equal(none.code, 1);
      assert.equal(
        none.stderr,
        "demo: no demo pod is running: start one with scripts/demo.sh --keep\n",
      );

      const pod = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      await lab.runContainer(pod, "app");
      const missing = await demo(lab.dir, ["--exec", "/bin/nonexistent"]);
      assert.equal(missing.stdout, "");
      assert.equal(
        missing.stderr,
        'demo: cannot run "/bin/nonexistent" in pod demo/foo: exec: "/bin/nonexistent": stat /bin/nonexistent: no such file or directory\n',
      );
      assert.equal(missing.code, 127);

      const ran = await demo(lab.dir, ["--exec", "/bin/sh", "-c", "echo out; exit 4"]);
      assert.equal(ran.stdout, "out\n");
      assert.equal(ran.code, 4);

      const usage = await demo(lab.dir, ["--exec"]);
      assert.equal(usage.stderr, "demo: usage: scripts/demo.sh --exec CMD [ARGS...]\n");
      assert.equal(usage.code, 2);
      const bad = await demo(lab.dir, ["--bogus"]);
      assert.equal(bad.stderr, "demo: usage: scripts/demo.sh [--keep | --exec CMD... | --stop]\n");
      assert.equal(bad.code, 2);

      // --stop, from another process, removes the pod's cgroups too.
      assert.notDeepEqual(await podCgroupDirs(pod), []);
      const stopped = await demo(lab.dir, ["--stop"]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(stopped.stdout, "demo: pod removed, containerd stopped\n");
      assert.deepEqual(await podCgroupDirs(pod), []);
      // A second --stop finds nothing running, and says so.
      const again = await demo(lab.dir, ["--stop"]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(
        again.stdout,
        `demo: no kept demo was running in ${lab.dir}; cleaned up what was left\n`,
      );
    });
  },
);
