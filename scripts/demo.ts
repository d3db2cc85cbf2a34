/**
 * The demo: a private containerd with pod `foo` (namespace `demo`, labels app=web,
 * tier=frontend, one container `app` from the busybox image), then crienrich's commands
 * against it exactly as an operator would type them: `ps`, `inspect`, and the main job,
 * `trace --pod foo`, while commands run in the pod through CRI ExecSync. Then cleanup.
 *
 * Modes (scripts/demo.sh passes its arguments on):
 * - no argument: the whole demo, then everything is removed;
 * - `--keep`: the same, but the demo containerd and pod stay up for your own commands;
 * - `--exec CMD...`: runs CMD in the kept pod's container through CRI ExecSync;
 * - `--stop`: removes the kept pod and stops its containerd.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Lab } from "./lab/lab.ts";

// CRIENRICH_DEMO_DIR: another place for the demo containerd (keep it short: socket paths).
const DEMO_DIR = Deno.env.get("CRIENRICH_DEMO_DIR") ?? "/run/crienrich-demo";
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

const containerdScript = fileURLToPath(new URL("./lab/containerd.sh", import.meta.url));
const [mode = "", ...rest] = Deno.args;

function say(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

async function stopDemo(): Promise<void> {
  await new Deno.Command("bash", { args: [containerdScript, "stop", DEMO_DIR] }).output();
}

if (mode === "--stop") {
  await stopDemo();
  say("demo: pod removed, containerd stopped");
  Deno.exit(0);
}
if (mode === "--exec") {
  // Attach to the kept demo: its socket is fixed, the container is the running "app".
  const { CriClient } = await import("../src/runtime/cri_client.ts");
  using client = new CriClient(`${DEMO_DIR}/containerd.sock`, { timeoutMs: 30_000 });
  const app = (await client.listContainers().catch(() => [])).find((c) =>
    c.metadata?.name === "app" && c.state === "CONTAINER_RUNNING"
  );
  if (!app) {
    say("demo: no demo pod is running: start one with scripts/demo.sh --keep");
    Deno.exit(1);
  }
  const result = await client.call<{ stdout: Uint8Array; stderr: Uint8Array; exitCode: number }>(
    "RuntimeService",
    "ExecSync",
    { containerId: app.id, cmd: rest, timeout: 30 },
  );
  await Deno.stdout.write(result.stdout);
  await Deno.stderr.write(result.stderr);
  Deno.exit(result.exitCode);
}
if (mode !== "" && mode !== "--keep") {
  say("usage: scripts/demo.sh [--keep | --exec CMD... | --stop]");
  Deno.exit(2);
}

// A previous demo killed midway (or kept) may have left its containerd: clear it first.
await stopDemo();

const lab = await Lab.start(DEMO_DIR);
let keep = false;
try {
  const pod = await lab.runPod({
    name: "foo",
    namespace: "demo",
    labels: { app: "web", tier: "frontend" },
    cgroupParent: "kubelet",
  });
  const app = await lab.runContainer(pod, "app");
  say(`demo: containerd at ${lab.socket}, pod demo/foo, container app ${app.slice(0, 13)}`);
  await check(crienrich(["ps", "--pod", "foo", "-n", "demo", "-o", "wide"], lab.socket), "ps");
  await check(crienrich(["inspect", app.slice(0, 12)], lab.socket), "inspect");

  // The main job: trace the pod while some commands run in it (as `kubectl exec` would).
  const trace = crienrich(["trace", "--pod", "foo", "-n", "demo", "--duration", "6s"], lab.socket);
  await new Promise((r) => setTimeout(r, 2500)); // let the tracer attach
  await lab.exec(app, ["/bin/sh", "-c", "echo hello from pod foo; ls / >/dev/null; exit 3"]);
  await lab.exec(app, ["/bin/cat", "/etc/passwd"]);
  await lab.exec(app, ["/bin/sleep", "1"]);
  await check(trace, "trace");
  keep = mode === "--keep";
} finally {
  if (keep) {
    lab.client.close();
    say(`
demo: kept running. Try it yourself:
  export CONTAINER_RUNTIME_ENDPOINT=${lab.socket}
  scripts/crienrich trace --pod foo -n demo  # in one terminal
  scripts/demo.sh --exec /bin/ls /etc        # in another: appears in the trace
  scripts/demo.sh --stop                     # when done`);
  } else {
    await lab.stop();
    say("\ndemo: pod removed, containerd stopped");
  }
}
