/**
 * `inspect NAME` when a Docker container and a Podman container share the name: the
 * ambiguity names each match's runtime, so the user knows which socket to pass with `-r`;
 * with `-r` the one runtime asked answers alone. Also the help texts name every API.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realTest, runCli } from "../harness/real.ts";
import { DockerLab } from "../../scripts/lab/docker_lab.ts";
import { PodmanLab } from "../../scripts/lab/podman_lab.ts";
import { ExitCode } from "../../src/errors.ts";

realTest("inspect of a name Docker and Podman both use names each match's runtime", async (t) => {
  await using docker = await DockerLab.start();
  await using podman = await PodmanLab.start();
  const inDocker = await docker.run("api");
  const inPodman = await podman.run("api");
  const root = await Deno.makeTempDir({ prefix: "crn-" });
  try {
    for (const fs of ["proc", "sys"]) await Deno.symlink(`/${fs}`, join(root, fs));
    await Deno.mkdir(join(root, "run/podman"), { recursive: true });
    await Deno.symlink(docker.socket, join(root, "run/docker.sock"));
    await Deno.symlink(podman.socket, join(root, "run/podman/podman.sock"));
    const env = { XDG_RUNTIME_DIR: "", DOCKER_HOST: "" };

    await t.step("the ambiguity names docker and podman", async () => {
      const result = await runCli(["inspect", "--host-root", root, "api"], env);
      assert.equal(result.code, ExitCode.NotFound, result.stdout);
      const message = result.stderr.trim();
      assert.match(message, /^crienrich: Ambiguous container "api": matches /, message);
      assert.ok(message.includes(`${inDocker.slice(0, 13)} (api, docker)`), message);
      assert.ok(message.includes(`${inPodman.slice(0, 13)} (api, podman)`), message);
    });

    await t.step("-r names the one runtime asked", async () => {
      const result = await runCli(["inspect", "-r", podman.socket, "api"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).id, inPodman);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("help texts name the four runtime APIs", async () => {
  const top = await runCli(["--help"]);
  assert.match(
    top.stdout,
    /runtimes\s+runtime sockets tried \(CRI, Docker Engine, Podman, containerd\)/,
  );
  const ps = await runCli(["ps", "--help"]);
  assert.match(
    ps.stdout.replaceAll("\n", " "),
    /every runtime found \(CRI, Docker Engine, Podman, containerd's own API\)/,
  );
  const runtimes = (await runCli(["runtimes", "--help"])).stdout.replaceAll("\n", " ");
  for (const api of ["CRI", "Docker Engine API", "Podman's API", "containerd's own API"]) {
    assert.ok(runtimes.includes(api), `${api} in: ${runtimes}`);
  }
});
