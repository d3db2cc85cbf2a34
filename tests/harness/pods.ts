/**
 * The pods most real tests start from, and facts about their containers read from the host.
 *
 * @module
 */
import type { Lab } from "../../scripts/lab/lab.ts";

/** Two pods of namespace `demo`: foo (label app=web, container app) and bar (container db). */
export interface FooAndBar {
  foo: Awaited<ReturnType<Lab["runPod"]>>;
  app: string;
  bar: Awaited<ReturnType<Lab["runPod"]>>;
  db: string;
}

/**
 * Starts pods foo and bar, each with one sleeping container. `cgroupParent` is the kubelet's
 * cgroupfs layout (`/kubepods/besteffort/pod<uid>`) unless `kubelet` is false (then
 * containerd's `/k8s.io/<id>`).
 */
export async function runFooAndBar(lab: Lab, kubelet = true): Promise<FooAndBar> {
  const parent = kubelet ? { cgroupParent: "kubelet" } : {};
  const foo = await lab.runPod({
    name: "foo",
    namespace: "demo",
    labels: { app: "web" },
    ...parent,
  });
  const app = await lab.runContainer(foo, "app");
  const bar = await lab.runPod({ name: "bar", namespace: "demo", ...parent });
  const db = await lab.runContainer(bar, "db");
  return { foo, app, bar, db };
}

/** Host pid of a container's init process, from the runtime's verbose status. */
export async function initPid(lab: Lab, containerId: string): Promise<number> {
  return JSON.parse((await lab.client.containerStatus(containerId)).info.info!).pid;
}

/** The directory of a process's cgroup in the v2 tree, as this host mounts it. */
export function cgroupDirOf(pid: number): string {
  const v2 = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").map((l) => l.split(" "))
    .find((f) => f[f.indexOf("-") + 1] === "cgroup2")![4]!;
  const path = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n")
    .find((l) => l.startsWith("0::"))!.slice(3);
  return `${v2}${path}`;
}
