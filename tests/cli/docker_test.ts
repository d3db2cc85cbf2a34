/**
 * `runtimes`, `ps` and `inspect` against a real private dockerd: containers started with
 * `docker run` (one plain, a compose-style pair, one exited) are listed with their name,
 * image, labels, pid and runtime, outside any pod.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, realTest, runCli } from "../harness/real.ts";
import { DOCKER_LAB_IMAGE, DockerLab } from "../../scripts/lab/docker_lab.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { ExitCode } from "../../src/errors.ts";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

const compose = (service: string) => ({
  "com.docker.compose.project": "shop",
  "com.docker.compose.service": service,
  "com.docker.compose.container-number": "1",
  "com.docker.compose.oneoff": "False",
});

realTest("ps, inspect and runtimes report docker run and compose containers", async (t) => {
  await using lab = await DockerLab.start();
  const web = await lab.run("web");
  const api = await lab.run("shop-api-1", { labels: compose("api") });
  const db = await lab.run("shop-db-1", { labels: compose("db") });
  const once = await lab.run("once", { command: ["/bin/sh", "-c", "exit 3"], detach: false })
    .catch(() => lab.docker(["inspect", "-f", "{{.Id}}", "once"])); // docker run exits 3
  const r = ["-r", `unix://${lab.socket}`];

  await t.step("runtimes names the socket's kind, version and API version", async () => {
    const result = await runCli(["runtimes", ...r, "-o", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const probe = JSON.parse(result.stdout);
    assert.equal(probe.endpoint, `unix://${lab.socket}`);
    assert.equal(probe.status, "ok");
    assert.equal(probe.kind, "docker");
    assert.equal(probe.runtime_name, "docker");
    assert.match(probe.runtime_version, /^\d+\.\d+/);
    assert.match(probe.api_version, /^1\.\d+$/);
    assert.equal(probe.cri_api_version, null);
  });

  await t.step(
    "ps lists the running containers with pid, labels, runtime docker, no pod",
    async () => {
      const list = records(await runCli(["ps", ...r, "-o", "json"]));
      assert.deepEqual(list.map((c) => c.name).sort(), ["shop-api-1", "shop-db-1", "web"]);
      for (const [name, id] of [["web", web], ["shop-api-1", api], ["shop-db-1", db]]) {
        const record = list.find((c) => c.name === name)!;
        assert.equal(record.id, id);
        assert.equal(record.pid, await lab.pid(name!));
        assert.equal(record.image, DOCKER_LAB_IMAGE);
        assert.equal(record.runtime, "docker");
        assert.equal(record.runtime_endpoint, `unix://${lab.socket}`);
        assert.equal(record.pod, null);
        assert.equal(record.state, "running");
        assert.equal(record.cgroup_path, `/docker/${id}`);
        assert.equal(record.mntns_id, (await Deno.stat(`/proc/${record.pid}/ns/mnt`)).ino);
      }
      assert.deepEqual(list.find((c) => c.name === "shop-api-1")!.labels, compose("api"));
      assert.deepEqual(list.find((c) => c.name === "web")!.labels, {});
      assert.deepEqual(list.find((c) => c.name === "shop-api-1")!.compose, {
        project: "shop",
        service: "api",
      });
      assert.deepEqual(list.find((c) => c.name === "shop-db-1")!.compose, {
        project: "shop",
        service: "db",
      });
      assert.equal(list.find((c) => c.name === "web")!.compose, null);
      const all = records(await runCli(["ps", ...r, "-a", "-o", "json"]));
      const exited = all.find((c) => c.id === once);
      assert.equal(exited?.state, "exited");
      assert.equal(exited?.pid, null);
    },
  );

  await t.step(
    "the table shows - for the pod, and wide shows compose, runtime and labels",
    async () => {
      const result = await runCli(["ps", ...r, "-o", "wide", "--container", "shop-api-1"]);
      assert.equal(result.code, 0, result.stderr);
      const [header, row] = result.stdout.trimEnd().split("\n");
      assert.match(header!, /^CONTAINER\s+NAME\s+POD\s+NAMESPACE\s+STATE/);
      assert.match(header!, /POD UID\s+COMPOSE\s+RUNTIME\s+LABELS$/);
      assert.match(row!, new RegExp(`^${api.slice(0, 13)}\\s+shop-api-1\\s+-\\s+-\\s+running`));
      assert.match(row!, /\s-\s+shop\/api\s+docker\s+com\.docker\.compose\.container-number=1,/);
      const plain = await runCli(["ps", ...r, "-o", "wide", "--container", "web"]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stdout.trimEnd().split("\n")[1]!, /\s-\s+-\s+docker\s*$/);
    },
  );

  await t.step(
    "selectors: -l picks a compose service, --pod and -n match no docker container",
    async () => {
      const db1 = records(
        await runCli(["ps", ...r, "-o", "json", "-l", "com.docker.compose.service=db"]),
      );
      assert.deepEqual(db1.map((c) => c.id), [db]);
      const shop = records(
        await runCli(["ps", ...r, "-o", "json", "-l", "com.docker.compose.project=shop"]),
      );
      assert.deepEqual(shop.map((c) => c.name).sort(), ["shop-api-1", "shop-db-1"]);
      for (const flag of [["--pod", "web"], ["-n", "default"]]) {
        const result = await runCli(["ps", ...r, ...flag]);
        assert.equal(result.code, ExitCode.NotFound, result.stderr);
      }
    },
  );

  await t.step("inspect by name, id prefix and pid", async () => {
    for (const target of ["web", web.slice(0, 12), web, `pid:${await lab.pid("web")}`]) {
      const result = await runCli(["inspect", ...r, target]);
      assert.equal(result.code, 0, `${target}: ${result.stderr}`);
      const record: ContainerRecord = JSON.parse(result.stdout);
      assert.equal(record.id, web, target);
      assert.equal(record.name, "web");
      assert.equal(record.pod, null);
      assert.equal(record.compose, null);
    }
    const byName = await runCli(["inspect", ...r, "shop-db-1"]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.deepEqual(JSON.parse(byName.stdout).compose, { project: "shop", service: "db" });
    const unknown = await runCli(["inspect", ...r, "nope"]);
    assert.equal(unknown.code, ExitCode.NotFound);
    assert.match(unknown.stderr, /^crienrich: No container "nope" in the runtime\n$/);
  });

  await t.step("discovery finds the socket through DOCKER_HOST and under --host-root", async () => {
    const empty = await Deno.makeTempDir({ prefix: "crh-" });
    try {
      const viaEnv = await runCli(["runtimes", "--host-root", empty, "-o", "json"], {
        DOCKER_HOST: `unix://${lab.socket}`,
      });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const probes = viaEnv.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const ok = probes.filter((p) => p.status === "ok");
      assert.deepEqual(ok.map((p) => [p.source, p.kind]), [["DOCKER_HOST", "docker"]]);
      await Deno.mkdir(join(empty, "run"));
      await Deno.symlink(lab.socket, join(empty, "run/docker.sock"));
      const underRoot = await runCli(["runtimes", "--host-root", empty, "-o", "json"]);
      assert.equal(underRoot.code, 0, underRoot.stderr);
      const found = underRoot.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
        .filter((p) => p.status === "ok");
      assert.deepEqual(found.map((p) => [p.endpoint, p.kind, p.used_by]), [
        [`unix://${join(empty, "run/docker.sock")}`, "docker", "Docker Engine"],
      ]);
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  });
});
