/**
 * One contract, every runtime client: the same assertions against a real private containerd
 * (CRI), a real private dockerd (Docker Engine API) and a real private Podman service, each
 * opened through the factory table as discovery opens it. What `ps`, `inspect` and the tracer rely on holds whichever
 * runtime answers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realTest, withLab } from "../harness/real.ts";
import { DockerLab } from "../../scripts/lab/docker_lab.ts";
import { PodmanLab } from "../../scripts/lab/podman_lab.ts";
import type { RuntimeClient, RuntimeKind } from "../../src/runtime/client.ts";
import { probeKind, runtimeKind } from "../../src/runtime/runtime_kinds.ts";
import { findCgroupV2Root } from "../../src/runtime/cgroup.ts";
import { NotFoundError } from "../../src/errors.ts";

/** A runtime with one running container `app` and one exited container `done` in it. */
interface Subject {
  kind: RuntimeKind;
  socket: string;
  runningId: string;
  exitedId: string;
}

async function checkContract(subject: Subject): Promise<void> {
  const version = await probeKind(subject.kind, subject.socket, { timeoutMs: 10_000 });
  assert.equal(version.kind, subject.kind);
  assert.ok(version.name && version.version && version.apiVersion, JSON.stringify(version));
  using client: RuntimeClient = runtimeKind(subject.kind).open(
    subject.socket,
    { timeoutMs: 10_000 },
    version,
  );
  assert.equal(client.kind, subject.kind);
  assert.equal(client.endpoint, `unix://${subject.socket}`);

  const records = await client.list();
  const running = records.find((r) => r.id === subject.runningId);
  const exited = records.find((r) => r.id === subject.exitedId);
  assert.ok(running, `list() has the running container: ${records.map((r) => r.name)}`);
  assert.ok(exited, "list() has the exited container");
  assert.equal(running.state, "running");
  assert.equal(running.name, "app");
  assert.equal(running.runtime, version.name);
  assert.equal(running.runtime_endpoint, client.endpoint);
  assert.match(running.image_id, /^sha256:[0-9a-f]{64}$/);
  assert.match(running.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.match(running.started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.equal(running.labels.tier, "frontend");
  // Process facts agree with the kernel's.
  assert.ok(running.pid !== null && running.pid > 0);
  const mnt = await Deno.stat(`/proc/${running.pid}/ns/mnt`);
  assert.equal(running.mntns_id, mnt.ino);
  const cgroupLine = (await Deno.readTextFile(`/proc/${running.pid}/cgroup`)).split("\n")
    .find((line) => line.startsWith("0::"));
  assert.equal(running.cgroup_path, cgroupLine?.slice(3));
  const v2 = findCgroupV2Root();
  if (v2) assert.equal(running.cgroup_id, (await Deno.stat(join(v2, running.cgroup_path!))).ino);
  assert.equal(exited.state, "exited");
  assert.equal(exited.pid, null);
  assert.equal(exited.mntns_id, null);

  assert.deepEqual(await client.get(subject.runningId), running);
  await assert.rejects(client.get("0".repeat(64)), NotFoundError);
  await assert.rejects(client.get(subject.runningId.slice(0, 12)), NotFoundError, "full ids only");
  assert.equal(await client.finishedAtNs(subject.runningId), undefined);
  const finished = await client.finishedAtNs(subject.exitedId);
  assert.ok(finished !== undefined && finished > 0n, "an exited container's finish time");
  assert.equal(await client.sandbox("0".repeat(64)), undefined);
  assert.equal(await client.sandbox(subject.runningId), undefined, "a container is no sandbox");
}

async function waitExited(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !await check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

realTest("RuntimeClient contract: CRI (containerd)", async () => {
  await withLab(async (lab) => {
    const pod = await lab.runPod({ name: "contract", namespace: "demo", labels: {} });
    const runningId = await lab.runContainer(pod, "app", undefined, undefined, {
      tier: "frontend",
    });
    const exitedId = await lab.runContainer(pod, "done", ["/bin/true"]);
    await waitExited(async () =>
      (await lab.client.containerStatus(exitedId)).status?.state === "CONTAINER_EXITED"
    );
    await checkContract({ kind: "cri", socket: lab.socket, runningId, exitedId });
  });
});

realTest("RuntimeClient contract: Docker Engine (dockerd)", async () => {
  await using lab = await DockerLab.start();
  const runningId = await lab.run("app", { labels: { tier: "frontend" } });
  const exitedId = await lab.run("done", { command: ["/bin/true"], detach: false });
  await checkContract({ kind: "docker", socket: lab.socket, runningId, exitedId });
});

realTest("RuntimeClient contract: Podman (podman system service)", async () => {
  await using lab = await PodmanLab.start();
  // In a pod, as the CRI subject's: the pod's infra container must not count as a container.
  await lab.createPod("contract");
  const runningId = await lab.run("app", { pod: "contract", labels: { tier: "frontend" } });
  const exitedId = await lab.run("done", { command: ["/bin/true"], detach: false });
  await checkContract({ kind: "podman", socket: lab.socket, runningId, exitedId });
});
