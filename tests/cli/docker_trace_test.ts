/**
 * `crienrich trace` against a real private dockerd: a `docker exec` in a running container
 * and the entrypoint of a container started after the trace began are reported with the
 * container filled (runtime docker, the Compose project and service of a compose-labelled
 * one) and no pod, proven by the namespace holder and by the
 * cgroup id of dockerd's cgroupfs layout (`/docker/<id>`).
 */
import assert from "node:assert/strict";
import { realTest } from "../harness/real.ts";
import { TraceProcess } from "../harness/trace_process.ts";
import { DOCKER_LAB_IMAGE, DockerLab } from "../../scripts/lab/docker_lab.ts";
import { ExitCode } from "../../src/errors.ts";

realTest("trace --container reports docker exec and a later container's entrypoint", async (t) => {
  await using lab = await DockerLab.start();
  const web = await lab.run("web");
  await lab.run("other");
  const onWeb = new TraceProcess(
    ["--container", "web", "--duration", "60s", "--debug"],
    lab.socket,
  );
  const onLate = new TraceProcess(
    ["--container", "late", "--duration", "60s", "--debug"],
    lab.socket,
  );
  await onWeb.waitFor(/^crienrich: tracing container "web" \(1 running container selected\)$/);
  await onLate.waitFor(/^crienrich: waiting for container "late" to start$/);

  await lab.docker(["exec", "web", "/bin/sh", "-c", "echo docker-exec-crienrich; exit 4"])
    .catch(() => {}); // exits 4
  await lab.docker(["exec", "other", "/bin/sh", "-c", "echo in-other-crienrich"]);
  const late = await lab.run("late", {
    command: ["/bin/sh", "-c", "echo late-entrypoint-crienrich; exec /bin/sleep 3600"],
    // As `docker compose up` labels a service's container.
    labels: { "com.docker.compose.project": "shop", "com.docker.compose.service": "late" },
  });
  const latePid = await lab.pid("late");
  for (let i = 0; i < 100; i++) {
    const cmdline = await Deno.readTextFile(`/proc/${latePid}/cmdline`).catch(() => "");
    if (cmdline.startsWith("/bin/sleep")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1000));
  onWeb.child.kill("SIGINT");
  onLate.child.kill("SIGINT");
  const [inWeb, inLate] = [await onWeb.finish(), await onLate.finish()];

  await t.step("the docker exec is web's, runtime docker, pod null", () => {
    assert.equal(inWeb.code, ExitCode.Ok, inWeb.stderr.join("\n"));
    const exec = inWeb.events.find((e) =>
      e.type === "exec" && e.process.args?.[2] === "echo docker-exec-crienrich; exit 4"
    );
    assert.ok(exec, JSON.stringify(inWeb.events.map((e) => e.process.args)));
    assert.equal(exec.container?.id, web);
    assert.equal(exec.container?.name, "web");
    assert.equal(exec.container?.image, DOCKER_LAB_IMAGE);
    assert.match(exec.container?.image_id ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(exec.container?.runtime, "docker");
    assert.equal(exec.container?.compose, null);
    assert.equal(exec.pod, null);
    assert.equal(exec.unresolved, false);
    const exit = inWeb.events.find((e) => e.type === "exit" && e.process.pid === exec.process.pid);
    assert.equal(exit?.process.exit_code, 4);
    assert.equal(exit?.container?.name, "web");
    for (const event of inWeb.events) assert.equal(event.container?.name, "web");
    assert.ok(!JSON.stringify(inWeb.events).includes("in-other-crienrich"));
    assert.ok(
      inWeb.stderr.some((l) =>
        /^debug: mntns \d+ \(serial \d+\) allowed: web, by mount namespace$/.test(l)
      ),
      inWeb.stderr.join("\n"),
    );
  });

  await t.step("a container started after the trace began is traced from its entrypoint", () => {
    assert.equal(inLate.code, ExitCode.Ok, inLate.stderr.join("\n"));
    assert.ok(inLate.stderr.includes('crienrich: container "late" appeared: container "late"'));
    const entry = inLate.events.find((e) =>
      e.type === "exec" && e.process.args?.[2]?.startsWith("echo late-entrypoint-crienrich")
    );
    assert.ok(entry, JSON.stringify(inLate.events.map((e) => e.process.args)));
    assert.equal(entry.container?.id, late);
    assert.equal(entry.container?.runtime, "docker");
    assert.deepEqual(entry.container?.compose, { project: "shop", service: "late" });
    assert.equal(entry.pod, null);
    const sleep = inLate.events.find((e) =>
      e.type === "exec" && e.process.args?.join(" ") === "/bin/sleep 3600"
    );
    assert.equal(sleep?.container?.name, "late");
    // Proven by the cgroup id at /docker/<id>, the container being new to the trace.
    assert.ok(
      inLate.stderr.some((l) =>
        new RegExp(`allowed: late, by cgroup ${late.slice(0, 13)}$`).test(l)
      ),
      inLate.stderr.join("\n"),
    );
    for (const event of inLate.events) assert.equal(event.container?.name, "late");
  });
});
