/**
 * `crienrich trace` against a real private Podman service: a process in a Podman pod's
 * infra container (`podman exec <infra id> ...`) is the pod's sandbox (`pod` set,
 * `"container": null`, `"pod_sandbox": true`), never a host process, although Podman's exec
 * helper joins the infra's mount namespace from the service's cgroup (the root here) before
 * it moves into the infra's cgroup; also for a pod created after the trace began (the
 * listing the trace started with predates it). Podman's infra image here is busybox with
 * `--infra-command "sleep 1d"`, as on a node without catatonit.
 */
import assert from "node:assert/strict";
import { realTest } from "../harness/real.ts";
import { type TraceEvent, TraceProcess } from "../harness/trace_process.ts";
import { PODMAN_LAB_IMAGE, PodmanLab } from "../../scripts/lab/podman_lab.ts";
import { ExitCode } from "../../src/errors.ts";

/** `podman pod create` with busybox as infra image (catatonit is missing here). */
async function createPod(lab: PodmanLab, name: string): Promise<{ podId: string; infra: string }> {
  const podId = await lab.podman([
    "pod",
    "create",
    "--name",
    name,
    "--label",
    "team=blue",
    "--infra-image",
    PODMAN_LAB_IMAGE,
    "--infra-command",
    "sleep 1d",
  ]);
  await lab.run(`${name}-worker`, { pod: name });
  return { podId, infra: await lab.infraId(name) };
}

const execOf = (events: TraceEvent[], arg: string) =>
  events.find((e) => e.type === "exec" && e.process.args?.join(" ") === `/bin/echo ${arg}`);

realTest("trace: processes of a Podman pod's infra container are the pod's sandbox", async (t) => {
  await using lab = await PodmanLab.start();
  const shop = await createPod(lab, "shop");
  // One after the other: four traces starting at once keep a 2-core node's Podman busy.
  const start = async (args: string[]) => {
    const trace = new TraceProcess([...args, "--duration", "90s", "--timeout", "15s"], lab.socket);
    await trace.waitFor(/^crienrich: tracing /, 60_000);
    return trace;
  };
  const onPod = await start(["--pod", "shop", "-n", "podman", "--debug"]);
  const onNamespace = await start(["-n", "podman"]);
  const onAll = await start(["--all"]);
  const onHost = await start(["--host"]);
  await lab.podman(["exec", shop.infra, "/bin/echo", "infra-of-shop-crienrich"]);
  await lab.podman(["exec", "shop-worker", "/bin/echo", "worker-of-shop-crienrich"]);
  // A pod the trace's start listing does not know, exec'd into at once.
  const late = await createPod(lab, "late");
  await lab.podman(["exec", late.infra, "/bin/echo", "infra-of-late-crienrich"]);
  await new Promise((r) => setTimeout(r, 1500));
  for (const trace of [onPod, onNamespace, onAll, onHost]) trace.child.kill("SIGINT");
  const [inPod, inNamespace, inAll, inHost] = [
    await onPod.finish(),
    await onNamespace.finish(),
    await onAll.finish(),
    await onHost.finish(),
  ];

  await t.step("--pod shop prints the infra's exec with the pod, as its sandbox", () => {
    assert.equal(inPod.code, ExitCode.Ok, inPod.stderr.join("\n"));
    const exec = execOf(inPod.events, "infra-of-shop-crienrich");
    assert.ok(exec, JSON.stringify(inPod.events.map((e) => e.process.args)));
    assert.equal(exec.container, null);
    assert.equal(exec.pod_sandbox, true);
    assert.equal(exec.unresolved, false);
    assert.deepEqual(exec.pod, {
      name: "shop",
      namespace: "podman",
      uid: shop.podId,
      labels: { team: "blue" },
    });
    assert.ok(execOf(inPod.events, "worker-of-shop-crienrich"));
    assert.ok(
      inPod.stderr.some((l) =>
        /^debug: mntns \d+ \(serial \d+\) allowed: podman\/shop \(pod sandbox\), by mount namespace$/
          .test(l)
      ),
      inPod.stderr.join("\n"),
    );
  });

  await t.step("-n podman and --all print both pods' infra execs as sandboxes", () => {
    for (const { code, events, stderr } of [inNamespace, inAll]) {
      assert.equal(code, ExitCode.Ok, stderr.join("\n"));
      for (
        const [arg, pod] of [["infra-of-shop-crienrich", "shop"], [
          "infra-of-late-crienrich",
          "late",
        ]]
      ) {
        const exec = execOf(events, arg!);
        assert.ok(exec, `${arg}: ${JSON.stringify(events.map((e) => e.process.args))}`);
        assert.equal(exec.pod?.name, pod);
        assert.equal(exec.pod_sandbox, true);
        assert.equal(exec.container, null);
      }
    }
  });

  await t.step("--host never prints an infra container's process as the host's", () => {
    assert.equal(inHost.code, ExitCode.Ok, inHost.stderr.join("\n"));
    for (const arg of ["infra-of-shop-crienrich", "infra-of-late-crienrich"]) {
      assert.equal(execOf(inHost.events, arg), undefined, arg);
    }
  });
});
