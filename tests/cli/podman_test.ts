/**
 * `runtimes`, `ps` and `inspect` against a real private Podman service: `podman run -d
 * --name api` is listed with its name, image, labels, pid and runtime podman, outside any
 * pod; a container of `podman pod create --name shop` is listed in pod "shop" (namespace
 * "podman"), and the pod's infra container is its sandbox, not a container.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, realTest, runCli } from "../harness/real.ts";
import { PODMAN_LAB_IMAGE, PodmanLab } from "../../scripts/lab/podman_lab.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { PodmanClient } from "../../src/runtime/podman_client.ts";
import { ExitCode } from "../../src/errors.ts";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

const probes = (result: CliResult) =>
  result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));

realTest("ps, inspect and runtimes report podman run and podman pod containers", async (t) => {
  await using lab = await PodmanLab.start();
  const api = await lab.run("api", { labels: { tier: "frontend" } });
  const podId = await lab.createPod("shop", { team: "blue" });
  const worker = await lab.run("worker", { pod: "shop", labels: { role: "queue" } });
  const infra = await lab.infraId("shop");
  const once = await lab.run("once", { command: ["/bin/sh", "-c", "exit 3"], detach: false });
  const r = ["-r", `unix://${lab.socket}`];

  await t.step("runtimes names the socket's kind podman, version and API version", async () => {
    const result = await runCli(["runtimes", ...r, "-o", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const probe = JSON.parse(result.stdout);
    assert.equal(probe.endpoint, `unix://${lab.socket}`);
    assert.equal(probe.status, "ok");
    assert.equal(probe.kind, "podman");
    assert.equal(probe.runtime_name, "podman");
    const version = await lab.podman(["version", "-f", "{{.Server.Version}}"]);
    assert.equal(probe.runtime_version, version);
    assert.equal(probe.api_version, await lab.podman(["version", "-f", "{{.Server.APIVersion}}"]));
    assert.equal(probe.cri_api_version, null);
  });

  await t.step("ps lists api outside any pod and worker in pod shop, runtime podman", async () => {
    const list = records(await runCli(["ps", ...r, "-o", "json"]));
    assert.deepEqual(list.map((c) => c.name).sort(), ["api", "worker"], "no infra container");
    for (const [name, id] of [["api", api], ["worker", worker]]) {
      const record = list.find((c) => c.name === name)!;
      assert.equal(record.id, id);
      assert.equal(record.pid, await lab.pid(name!));
      assert.equal(record.image, PODMAN_LAB_IMAGE);
      assert.equal(record.runtime, "podman");
      assert.equal(record.runtime_endpoint, `unix://${lab.socket}`);
      assert.equal(record.state, "running");
      assert.equal(record.mntns_id, (await Deno.stat(`/proc/${record.pid}/ns/mnt`)).ino);
    }
    const apiRecord = list.find((c) => c.name === "api")!;
    assert.equal(apiRecord.pod, null);
    assert.deepEqual(apiRecord.labels, { tier: "frontend" });
    assert.equal(apiRecord.cgroup_path, `/libpod_parent/libpod-${api}`);
    const workerRecord = list.find((c) => c.name === "worker")!;
    assert.deepEqual(workerRecord.pod, {
      sandbox_id: infra,
      name: "shop",
      namespace: "podman",
      uid: podId,
      labels: { team: "blue" },
    });
    assert.deepEqual(workerRecord.labels, { role: "queue" });
    assert.equal(workerRecord.cgroup_path, `/libpod_parent/${podId}/libpod-${worker}`);
    const all = records(await runCli(["ps", ...r, "-a", "-o", "json"]));
    const exited = all.find((c) => c.id === once);
    assert.equal(exited?.state, "exited");
    assert.equal(exited?.pid, null);
    assert.ok(!all.some((c) => c.id === infra), "the infra container is no container");
  });

  await t.step("selectors: --pod, -n podman, -l of the pod and of the container", async () => {
    const byPod = records(await runCli(["ps", ...r, "-o", "json", "--pod", "shop"]));
    assert.deepEqual(byPod.map((c) => c.id), [worker]);
    const byNs = records(await runCli(["ps", ...r, "-o", "json", "-n", "podman"]));
    assert.deepEqual(byNs.map((c) => c.id), [worker]);
    const byPodLabel = records(await runCli(["ps", ...r, "-o", "json", "-l", "team=blue"]));
    assert.deepEqual(byPodLabel.map((c) => c.id), [worker]);
    const byLabel = records(await runCli(["ps", ...r, "-o", "json", "-l", "tier=frontend"]));
    assert.deepEqual(byLabel.map((c) => c.id), [api]);
    const none = await runCli(["ps", ...r, "--pod", "api"]);
    assert.equal(none.code, ExitCode.NotFound, none.stderr);
  });

  await t.step("the table shows the pod, its namespace and runtime podman", async () => {
    const result = await runCli(["ps", ...r, "-o", "wide", "--container", "worker"]);
    assert.equal(result.code, 0, result.stderr);
    const row = result.stdout.trimEnd().split("\n")[1]!;
    assert.match(row, new RegExp(`^${worker.slice(0, 13)}\\s+worker\\s+shop\\s+podman\\s+running`));
    // LABELS shows the pod's labels for a container in a pod, as for CRI pods.
    // COMPOSE is - for a container no Compose created.
    assert.match(row, new RegExp(`${podId}\\s+-\\s+podman\\s+team=blue$`));
  });

  await t.step("inspect by name, id prefix, full id and pid", async () => {
    for (const [id, name] of [[api, "api"], [worker, "worker"]] as const) {
      for (const target of [name, id.slice(0, 12), id, `pid:${await lab.pid(name)}`]) {
        const result = await runCli(["inspect", ...r, target]);
        assert.equal(result.code, 0, `${target}: ${result.stderr}`);
        const record: ContainerRecord = JSON.parse(result.stdout);
        assert.equal(record.id, id, target);
        assert.equal(record.name, name);
        assert.equal(record.runtime, "podman");
        assert.equal(record.pod?.name ?? null, name === "worker" ? "shop" : null);
      }
    }
    const unknown = await runCli(["inspect", ...r, "nope"]);
    assert.equal(unknown.code, ExitCode.NotFound);
    // The infra container is the pod's sandbox, not a container to inspect.
    const sandbox = await runCli(["inspect", ...r, infra]);
    assert.equal(sandbox.code, ExitCode.NotFound, sandbox.stdout);
  });

  await t.step("the client answers the infra container as the pod's sandbox", async () => {
    using client = new PodmanClient(lab.socket, { timeoutMs: 10_000 });
    const sandbox = await client.sandbox(infra);
    assert.equal(sandbox?.id, infra);
    assert.equal(sandbox?.pod.name, "shop");
    assert.equal(sandbox?.pod.uid, podId);
    const infraPid = Number(await lab.podman(["inspect", "-f", "{{.State.Pid}}", infra]));
    const line = (await Deno.readTextFile(`/proc/${infraPid}/cgroup`)).split("\n")
      .find((l) => l.startsWith("0::"));
    assert.deepEqual(sandbox?.cgroupPaths, [line?.slice(3)]);
    assert.equal(await client.sandbox(worker), undefined, "a container is no sandbox");
  });

  await t.step(
    "discovery finds the socket under --host-root, in XDG_RUNTIME_DIR, and as DOCKER_HOST",
    async () => {
      const root = await Deno.makeTempDir({ prefix: "crh-" });
      // A host root whose /proc and /sys are the host's, as a DaemonSet's hostPath mount.
      const hostRoot = async (dir: string) => {
        for (const fs of ["proc", "sys"]) await Deno.symlink(`/${fs}`, join(dir, fs));
      };
      try {
        await hostRoot(root);
        await Deno.mkdir(join(root, "run/podman"), { recursive: true });
        await Deno.symlink(lab.socket, join(root, "run/podman/podman.sock"));
        const underRoot = await runCli(["runtimes", "--host-root", root, "-o", "json"], {
          XDG_RUNTIME_DIR: "",
          DOCKER_HOST: "",
        });
        assert.equal(underRoot.code, 0, underRoot.stderr);
        assert.deepEqual(
          probes(underRoot).filter((p) => p.status === "ok").map((p) => [
            p.endpoint,
            p.kind,
            p.used_by,
          ]),
          [[`unix://${join(root, "run/podman/podman.sock")}`, "podman", "Podman"]],
        );
        // ps through discovery alone.
        const found = records(
          await runCli(["ps", "--host-root", root, "-o", "json"], {
            XDG_RUNTIME_DIR: "",
            DOCKER_HOST: "",
          }),
        );
        assert.deepEqual(found.map((c) => c.name).sort(), ["api", "worker"]);

        // Rootless: $XDG_RUNTIME_DIR/podman/podman.sock, not under --host-root.
        const empty = join(root, "empty");
        await Deno.mkdir(empty);
        await hostRoot(empty);
        const xdg = await runCli(["runtimes", "--host-root", empty, "-o", "json"], {
          XDG_RUNTIME_DIR: join(root, "run"),
          DOCKER_HOST: "",
        });
        assert.equal(xdg.code, 0, xdg.stderr);
        assert.deepEqual(
          probes(xdg).filter((p) => p.status === "ok").map((p) => [p.endpoint, p.kind, p.used_by]),
          [[`unix://${join(root, "run/podman/podman.sock")}`, "podman", "Podman (rootless)"]],
        );

        // DOCKER_HOST naming Podman's socket (as Podman's docs suggest): answered as Podman.
        const viaDockerHost = await runCli(["runtimes", "--host-root", empty, "-o", "json"], {
          XDG_RUNTIME_DIR: "",
          DOCKER_HOST: `unix://${lab.socket}`,
        });
        assert.equal(viaDockerHost.code, 0, viaDockerHost.stderr);
        assert.deepEqual(
          probes(viaDockerHost).filter((p) => p.status === "ok").map((p) => [
            p.source,
            p.kind,
            p.runtime_name,
          ]),
          [["DOCKER_HOST", "podman", "podman"]],
        );
        const viaDocker = records(
          await runCli(["ps", "--host-root", empty, "-o", "json", "--pod", "shop"], {
            XDG_RUNTIME_DIR: "",
            DOCKER_HOST: `unix://${lab.socket}`,
          }),
        );
        assert.deepEqual(viaDocker.map((c) => [c.name, c.runtime]), [["worker", "podman"]]);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  );
});
