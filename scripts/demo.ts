/**
 * The demo: a private containerd with pod `foo` (namespace `demo`, labels app=web,
 * tier=frontend, one container `app` from the busybox image), then crienrich's commands
 * against it exactly as an operator would type them, then cleanup.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Lab } from "./lab/lab.ts";

const DEMO_DIR = "/run/crienrich-demo";
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

async function crienrich(args: string[], socket: string): Promise<void> {
  // deno-lint-ignore no-console
  console.log(`\n$ crienrich ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    env: { CONTAINER_RUNTIME_ENDPOINT: socket },
  }).spawn().status;
  if (!status.success) throw new Error(`crienrich ${args.join(" ")} exited with ${status.code}`);
}

// A previous demo killed midway may have left its containerd: clear it first.
await new Deno.Command("bash", {
  args: [fileURLToPath(new URL("./lab/containerd.sh", import.meta.url)), "stop", DEMO_DIR],
}).output();

const lab = await Lab.start(DEMO_DIR);
try {
  const pod = await lab.runPod({
    name: "foo",
    namespace: "demo",
    labels: { app: "web", tier: "frontend" },
    cgroupParent: "kubelet",
  });
  const app = await lab.runContainer(pod, "app");
  // deno-lint-ignore no-console
  console.log(`demo: containerd at ${lab.socket}, pod demo/foo, container app ${app.slice(0, 13)}`);
  await crienrich(["ps", "--pod", "foo", "-n", "demo", "-o", "wide"], lab.socket);
  await crienrich(["inspect", app.slice(0, 12)], lab.socket);
} finally {
  await lab.stop();
  // deno-lint-ignore no-console
  console.log("\ndemo: pod removed, containerd stopped");
}
