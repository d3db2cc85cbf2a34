/**
 * The demo: a private containerd with pod `foo` (namespace `demo`, labels app=web,
 * tier=frontend, one container `app` from the busybox image), then crienrich's commands
 * against it exactly as an operator would type them: `ps`, `inspect`, and the main job,
 * `trace --pod foo`, while commands run in the pod through CRI ExecSync. Then cleanup.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Lab } from "./lab/lab.ts";

const DEMO_DIR = "/run/crienrich-demo";
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

function crienrich(args: string[], socket: string): Deno.ChildProcess {
  // deno-lint-ignore no-console
  console.log(`\n$ crienrich ${args.join(" ")}`);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    env: { CONTAINER_RUNTIME_ENDPOINT: socket },
  }).spawn();
}

async function check(child: Deno.ChildProcess, what: string): Promise<void> {
  const status = await child.status;
  if (!status.success) throw new Error(`crienrich ${what} exited with ${status.code}`);
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
  await check(crienrich(["ps", "--pod", "foo", "-n", "demo", "-o", "wide"], lab.socket), "ps");
  await check(crienrich(["inspect", app.slice(0, 12)], lab.socket), "inspect");

  // The main job: trace the pod while some commands run in it (as `kubectl exec` would).
  const trace = crienrich(["trace", "--pod", "foo", "-n", "demo", "--duration", "6s"], lab.socket);
  await new Promise((r) => setTimeout(r, 2500)); // let the tracer attach
  await lab.exec(app, ["/bin/sh", "-c", "echo hello from pod foo; ls / >/dev/null; exit 3"]);
  await lab.exec(app, ["/bin/cat", "/etc/passwd"]);
  await lab.exec(app, ["/bin/sleep", "1"]);
  await check(trace, "trace");
} finally {
  await lab.stop();
  // deno-lint-ignore no-console
  console.log("\ndemo: pod removed, containerd stopped");
}
