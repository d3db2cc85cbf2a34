/**
 * One socket reachable by several paths is one runtime in `runtimes` and `doctor`, as in
 * `ps` and `trace`: a real Podman service whose socket is at `run/podman/podman.sock` under
 * the host root, with `var/run` linking to `run` (as on Debian) and `DOCKER_HOST` naming it
 * too, is one row (the other paths in `also_at`) and "1 runtime" in doctor's check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realTest, runCli } from "../harness/real.ts";
import { PodmanLab } from "../../scripts/lab/podman_lab.ts";

realTest("runtimes and doctor count a socket reachable by three paths once", async (t) => {
  await using lab = await PodmanLab.start();
  const root = await Deno.makeTempDir({ prefix: "crs-" });
  try {
    for (const fs of ["proc", "sys"]) await Deno.symlink(`/${fs}`, join(root, fs));
    await Deno.mkdir(join(root, "run/podman"), { recursive: true });
    await Deno.mkdir(join(root, "var"));
    await Deno.symlink("../run", join(root, "var/run"));
    const first = join(root, "run/podman/podman.sock");
    await Deno.symlink(lab.socket, first);
    const viaVarRun = join(root, "var/run/podman/podman.sock");
    const env = { XDG_RUNTIME_DIR: "", DOCKER_HOST: `unix://${viaVarRun}` };

    await t.step("runtimes: one row, its other paths in also_at", async () => {
      const result = await runCli(["runtimes", "--host-root", root, "-o", "json"], env);
      assert.equal(result.code, 0, result.stderr);
      const probes = result.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const present = probes.filter((p) => p.status !== "missing");
      assert.equal(present.length, 1, JSON.stringify(present));
      assert.equal(present[0].kind, "podman");
      // DOCKER_HOST comes first in discovery order; it names the /var/run path, also
      // well-known, and the /run path is the same socket.
      assert.equal(present[0].endpoint, `unix://${viaVarRun}`);
      assert.equal(present[0].source, "DOCKER_HOST");
      assert.deepEqual(present[0].also_at, [`unix://${first}`]);
      for (const p of probes.filter((p) => p.status === "missing")) assert.deepEqual(p.also_at, []);
      const table = await runCli(["runtimes", "--host-root", root], env);
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stdout.split("\n").filter((l) => / ok /.test(l)).length, 1, table.stdout);
    });

    await t.step("doctor's runtime check names the runtime once", async () => {
      const result = await runCli(["doctor", "--host-root", root, "-o", "json"], env);
      const runtime = result.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
        .find((c) => c.name === "runtime");
      assert.equal(runtime?.status, "ok", result.stdout + result.stderr);
      assert.doesNotMatch(runtime.detail, /runtimes answered/);
      assert.match(
        runtime.detail,
        new RegExp(`^podman \\S+ \\(kind podman, API \\S+\\) at unix://${viaVarRun}$`),
      );
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
