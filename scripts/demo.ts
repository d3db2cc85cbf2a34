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
const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url));

function crienrich(args: string[], socket: string): Deno.ChildProcess {
  // deno-lint-ignore no-console
  console.log(`\n$ crienrich ${args.join(" ")}`);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", mainPath, ...args],
    env: { CONTAINER_RUNTIME_ENDPOINT: socket },
  }).spawn();
}

async function check(child: Deno.ChildProcess, what: string): Promise<void> {
  const status = await child.status;
  if (!status.success) throw new Error(`crienrich ${what} exited with ${status.code}`);
}

const [mode = "", ...rest] = Deno.args;

function say(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

/** A failure of the demo itself: one line on stderr and this exit code, no stack trace. */
class DemoError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Removes a kept (or half-finished) demo: its pods and their cgroups, then containerd. */
/** `--stop`: removes the kept demo; returns false when none was running. */
async function stopDemo(): Promise<boolean> {
  const running = await Deno.stat(`${DEMO_DIR}/containerd.sock`).then(() => true, () => false);
  await Lab.stopDir(DEMO_DIR);
  return running;
}

/**
 * The runtime's own words for a failed ExecSync, without the layers above them:
 * `exec: "/bin/nope": stat /bin/nope: no such file or directory` from containerd's
 * `failed to exec in container: ... unable to start container process: ...: unknown`.
 */
function execFailure(error: unknown): string {
  const details = (error as { cause?: { details?: unknown } })?.cause?.details;
  const text = typeof details === "string" && details
    ? details
    : error instanceof Error
    ? error.message
    : String(error);
  const inner = /unable to start container process: (.*?)(?:: unknown)?$/.exec(text);
  return (inner ? inner[1]! : text).split("\n")[0]!;
}

/** `--exec CMD...`: runs CMD in the kept pod's container through CRI ExecSync. */
async function execInDemo(cmd: string[]): Promise<number> {
  if (cmd.length === 0) throw new DemoError("usage: scripts/demo.sh --exec CMD [ARGS...]", 2);
  // Attach to the kept demo: its socket is fixed, the container is the running "app".
  const { CriClient } = await import("../src/runtime/cri_client.ts");
  using client = new CriClient(`${DEMO_DIR}/containerd.sock`, { timeoutMs: 30_000 });
  const app = (await client.listContainers().catch(() => [])).find((c) =>
    c.metadata?.name === "app" && c.state === "CONTAINER_RUNNING"
  );
  if (!app) {
    throw new DemoError("no demo pod is running: start one with scripts/demo.sh --keep");
  }
  let result;
  try {
    result = await client.call<{ stdout: Uint8Array; stderr: Uint8Array; exitCode: number }>(
      "RuntimeService",
      "ExecSync",
      { containerId: app.id, cmd, timeout: 30 },
    );
  } catch (error) {
    const why = execFailure(error);
    // As a shell says it: 127 when the command does not exist, 126 when it cannot run.
    const code = /no such file|not found/i.test(why) ? 127 : 126;
    throw new DemoError(`cannot run ${JSON.stringify(cmd[0])} in pod demo/foo: ${why}`, code);
  }
  await Deno.stdout.write(result.stdout);
  await Deno.stderr.write(result.stderr);
  return result.exitCode;
}

/** The whole demo (`--keep`: leaves containerd and the pod running). */
async function runDemo(keepAfter: boolean): Promise<void> {
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
    const trace = crienrich(
      ["trace", "--pod", "foo", "-n", "demo", "--duration", "6s"],
      lab.socket,
    );
    await new Promise((r) => setTimeout(r, 2500)); // let the tracer attach
    await lab.exec(app, ["/bin/sh", "-c", "echo hello from pod foo; ls / >/dev/null; exit 3"]);
    await lab.exec(app, ["/bin/cat", "/etc/passwd"]);
    await lab.exec(app, ["/bin/sleep", "1"]);
    await check(trace, "trace");
    keep = keepAfter;
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
}

async function main(): Promise<number> {
  switch (mode) {
    case "--stop":
      say(
        await stopDemo()
          ? "demo: pod removed, containerd stopped"
          : `demo: no kept demo was running in ${DEMO_DIR}; cleaned up what was left`,
      );
      return 0;
    case "--exec":
      return await execInDemo(rest);
    case "":
    case "--keep":
      if (rest.length > 0) break;
      await runDemo(mode === "--keep");
      return 0;
  }
  throw new DemoError("usage: scripts/demo.sh [--keep | --exec CMD... | --stop]", 2);
}

try {
  Deno.exit(await main());
} catch (error) {
  // One line, as crienrich itself reports errors; CRIENRICH_DEBUG=1 adds the stack.
  const message = error instanceof Error ? error.message : String(error);
  // deno-lint-ignore no-console
  console.error(`demo: ${message.split("\n")[0]}`);
  // deno-lint-ignore no-console
  if (Deno.env.get("CRIENRICH_DEBUG")) console.error((error as Error)?.stack);
  Deno.exit(error instanceof DemoError ? error.exitCode : 1);
}
