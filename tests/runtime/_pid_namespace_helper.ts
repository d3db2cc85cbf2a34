/**
 * What pid_namespace_test.ts runs inside a private PID namespace (`unshare --pid --fork
 * --mount-proc`), printing one JSON line on stdout:
 *
 *   detect PROC_ROOT SOCKET   the view detectPidNamespace() finds, and this namespace's inode
 *   listen SOCKET             a unix socket listener, until the namespace ends
 *   node-lab DIR              a kind-like node: a private containerd under DIR with pod
 *                             demo/foo, then `ps`, `doctor` and detection in this namespace
 */
import { detectPidNamespace } from "../../src/runtime/pid_namespace.ts";
import { Lab } from "../../scripts/lab/lab.ts";
import { runCli } from "../harness/real.ts";

/** Prints one JSON line (bigints as strings). */
function print(value: unknown): void {
  const line = JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v);
  Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
}

async function ownPidNamespace(): Promise<string> {
  return String((await Deno.stat("/proc/self/ns/pid")).ino);
}

const [mode, ...args] = Deno.args;
switch (mode) {
  case "detect": {
    const view = await detectPidNamespace({ procRoot: args[0]!, criSocketPath: args[1]! });
    print({ view, ownInode: await ownPidNamespace() });
    break;
  }
  case "listen": {
    const listener = Deno.listen({ transport: "unix", path: args[0]! });
    for await (const conn of listener) conn.close();
    break;
  }
  case "node-lab": {
    const lab = await Lab.start(args[0]!);
    try {
      const pod = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      const id = await lab.runContainer(pod, "app");
      const ps = await runCli(["ps", "--pod", "foo", "-n", "demo", "-o", "json", "-r", lab.socket]);
      const record = ps.code === 0 ? JSON.parse(ps.stdout.split("\n")[0]!) : null;
      const pid: number | null = record?.pid ?? null;
      const cmdline = pid === null ? "" : await Deno.readTextFile(`/proc/${pid}/cmdline`);
      const doctor = await runCli(["doctor", "-o", "json", "-r", lab.socket]);
      const check = doctor.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line))
        .find((row) => row.name === "pid-namespace");
      print({
        view: await detectPidNamespace({ procRoot: "/proc", criSocketPath: lab.socket }),
        ownInode: await ownPidNamespace(),
        containerId: id,
        ps: { code: ps.code, stderr: ps.stderr, pid, cmdline: cmdline.split("\0").join(" ") },
        doctor: { code: doctor.code, check },
      });
    } finally {
      await lab.stop();
    }
    break;
  }
  default:
    throw new Error(`unknown mode "${mode}"`);
}
