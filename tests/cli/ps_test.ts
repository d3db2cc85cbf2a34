/**
 * `ps` and `inspect` against a real private containerd, with pods created as the kubelet
 * creates them in several namespaces.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { findCgroupV2Root } from "../../src/runtime/cgroup.ts";
import { ExitCode } from "../../src/errors.ts";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

const names = (list: ContainerRecord[]) =>
  list.map((r) => `${r.pod?.namespace}/${r.pod?.name}/${r.name}`).sort();

realTest("ps and inspect report real pods, containers, pids and cgroup ids", async (t) => {
  await withLab(async (lab) => {
    const env = { CONTAINER_RUNTIME_ENDPOINT: lab.socket };
    const foo = await lab.runPod({
      name: "foo",
      namespace: "demo",
      labels: { app: "web", tier: "frontend", note: "bell\u0007esc\u001b[2J" },
      cgroupParent: "kubelet",
    });
    const app = await lab.runContainer(foo, "app");
    const sidecar = await lab.runContainer(foo, "sidecar");
    const fooStaging = await lab.runPod({
      name: "foo",
      namespace: "staging",
      labels: { app: "web" },
    });
    await lab.runContainer(fooStaging, "app");
    const bar = await lab.runPod({ name: "bar", namespace: "demo", labels: { app: "db" } });
    await lab.runContainer(bar, "db");
    const job = await lab.runContainer(bar, "job", ["/bin/true"]);
    // Wait for the job to exit so that its state is stable.
    for (let i = 0; i < 50; i++) {
      const status = await lab.client.containerStatus(job);
      if (status.status?.state === "CONTAINER_EXITED") break;
      await new Promise((r) => setTimeout(r, 100));
    }

    await t.step("ps -o json reports every running container with real facts", async () => {
      const all = records(await runCli(["ps", "-o", "json"], env));
      assert.deepEqual(names(all), [
        "demo/bar/db",
        "demo/foo/app",
        "demo/foo/sidecar",
        "staging/foo/app",
      ]);
      const record = all.find((r) => r.id === app)!;
      assert.equal(record.name, "app");
      assert.equal(record.state, "running");
      assert.equal(record.image, "crienrich.local/busybox:1");
      assert.match(record.image_id, /^sha256:[0-9a-f]{64}$/);
      assert.equal(record.runtime, "containerd");
      assert.equal(record.pod?.name, "foo");
      assert.equal(record.pod?.namespace, "demo");
      assert.equal(record.pod?.uid, foo.uid);
      assert.equal(record.pod?.sandbox_id, foo.sandboxId);
      assert.deepEqual(record.pod?.labels, {
        app: "web",
        note: "bell\u0007esc\u001b[2J",
        tier: "frontend",
      });
      assert.equal(record.labels["io.kubernetes.container.name"], "app");
      // The pid is the container's init: its /proc cgroup names this container.
      const procCgroup = await Deno.readTextFile(`/proc/${record.pid}/cgroup`);
      assert.ok(procCgroup.includes(app), procCgroup);
      assert.equal(record.cgroup_path, `/kubepods/besteffort/pod${foo.uid}/${app}`);
      const cgroupDir = join(findCgroupV2Root()!, record.cgroup_path!);
      assert.equal(record.cgroup_id, (await Deno.stat(cgroupDir)).ino);
      assert.equal(record.mntns_id, (await Deno.stat(`/proc/${record.pid}/ns/mnt`)).ino);
      assert.notEqual(record.mntns_id, (await Deno.stat("/proc/self/ns/mnt")).ino);
      // containerd without a cgroup_parent puts containers under /k8s.io/<id>.
      const db = all.find((r) => r.name === "db")!;
      assert.equal(db.cgroup_path, `/k8s.io/${db.id}`);
    });

    await t.step("ps filters select exactly the right containers", async () => {
      const cases: [string[], string[]][] = [
        [["--pod", "foo", "-n", "demo"], ["demo/foo/app", "demo/foo/sidecar"]],
        [["--pod", "foo"], ["demo/foo/app", "demo/foo/sidecar", "staging/foo/app"]],
        [["-n", "demo"], ["demo/bar/db", "demo/foo/app", "demo/foo/sidecar"]],
        [["-l", "app=web"], ["demo/foo/app", "demo/foo/sidecar", "staging/foo/app"]],
        [["-l", "app=web", "-l", "tier=frontend"], ["demo/foo/app", "demo/foo/sidecar"]],
        [["-l", "app=web,tier=frontend", "--container", "sidecar"], ["demo/foo/sidecar"]],
        [["-l", "io.kubernetes.container.name=db"], ["demo/bar/db"]],
        [["--container", "app", "-n", "staging"], ["staging/foo/app"]],
        [["-a", "--pod", "bar"], ["demo/bar/db", "demo/bar/job"]],
        [["-l", "app=none"], []],
      ];
      for (const [args, expected] of cases) {
        assert.deepEqual(
          names(records(await runCli(["ps", "-o", "json", ...args], env))),
          expected,
          args.join(" "),
        );
      }
      const exited = records(await runCli(["ps", "-a", "-o", "json", "--container", "job"], env));
      assert.equal(exited[0]!.state, "exited");
      assert.equal(exited[0]!.pid, null);
    });

    await t.step("ps table escapes control characters from labels", async () => {
      const result = await runCli(["ps", "-o", "wide", "--pod", "foo", "-n", "demo"], env);
      assert.equal(result.code, 0, result.stderr);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(result.stdout, /[\u0000-\u0008\u000b-\u001f]/);
      assert.ok(result.stdout.includes("note=bell\\x07esc\\x1b[2J"), result.stdout);
      const lines = result.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 3);
      assert.match(
        lines[0]!,
        /^CONTAINER\s+NAME\s+POD\s+NAMESPACE\s+STATE\s+IMAGE\s+PID\s+CGROUP ID/,
      );
    });

    await t.step("ps of an unknown pod is exit code 5 with one stderr line", async () => {
      const result = await runCli(["ps", "--pod", "nope", "-n", "demo"], env);
      assert.equal(result.code, ExitCode.NotFound);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        /^crienrich: No running container matches pod "nope", namespace "demo" on .+\n$/,
      );
    });

    await t.step("inspect finds a container by prefix, pid:N and cgroup:ID", async () => {
      const byPrefix = JSON.parse((await runCli(["inspect", sidecar.slice(0, 10)], env)).stdout);
      assert.equal(byPrefix.id, sidecar);
      assert.equal(byPrefix.name, "sidecar");
      assert.equal(byPrefix.pod.name, "foo");
      const byPid = JSON.parse((await runCli(["inspect", `pid:${byPrefix.pid}`], env)).stdout);
      assert.equal(byPid.id, sidecar);
      const byCgroup = JSON.parse(
        (await runCli(["inspect", `cgroup:${byPrefix.cgroup_id}`], env)).stdout,
      );
      assert.equal(byCgroup.id, sidecar);
      // A process exec'd into the container is found by its pid too.
      const exec = await lab.exec(app, ["/bin/sh", "-c", "sleep 5 & echo $!"]);
      assert.equal(exec.exitCode, 0);
      const hostPids = (await Deno.readTextFile(`/proc/${byPrefix.pid}/cgroup`)) &&
        await childPidsIn(app);
      assert.ok(hostPids.length > 0);
      const byExecPid = JSON.parse((await runCli(["inspect", `pid:${hostPids[0]}`], env)).stdout);
      assert.equal(byExecPid.id, app);
    });

    await t.step("inspect errors: unknown id, host pid, missing pid, bad reference", async () => {
      const unknown = await runCli(["inspect", "ffffffffffff"], env);
      assert.equal(unknown.code, ExitCode.NotFound);
      assert.match(unknown.stderr, /^crienrich: No container "ffffffffffff" in the runtime\n$/);
      const host = await runCli(["inspect", "pid:1"], env);
      assert.equal(host.code, ExitCode.NotFound);
      // pid_max is at most 4194304 (PID_MAX_LIMIT): no process has that pid.
      const missing = await runCli(["inspect", "pid:4194304"], env);
      assert.equal(missing.code, ExitCode.NotFound);
      assert.equal(missing.stderr.split("\n").filter(Boolean).length, 1);
      const bad = await runCli(["inspect", "x/y"], env);
      assert.equal(bad.code, ExitCode.Usage);
    });
  });
});

/** Host pids whose v2 cgroup path names container `id`. */
async function childPidsIn(id: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const text = await Deno.readTextFile(`/proc/${entry.name}/cgroup`).catch(() => "");
    if (text.includes(id)) pids.push(Number(entry.name));
  }
  return pids.sort((a, b) => b - a);
}
