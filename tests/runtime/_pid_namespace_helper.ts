/**
 * What pid_namespace_test.ts runs inside a private PID namespace (`unshare --pid --fork
 * --mount-proc`), printing one JSON line on stdout:
 *
 *   detect PROC_ROOT SOCKET   the view detectPidNamespace() finds, and this namespace's inode
 *   listen SOCKET             a unix socket listener, until the namespace ends
 *   node-lab DIR              a kind-like node: a private containerd under DIR with pod
 *                             demo/foo, then `ps`, `doctor` and detection in this namespace
 *   node-trace DIR TOKEN      a kind-like node traced: `trace --pod foo` and `trace --all
 *                             --host` started in this namespace before its containerd (under
 *                             DIR) runs pods demo/foo and demo/bar, commands marked with TOKEN
 *                             run in them and on the node, and what this namespace's /proc
 *                             says of those processes
 */
import { detectPidNamespace } from "../../src/runtime/pid_namespace.ts";
import { Lab } from "../../scripts/lab/lab.ts";
import { runCli } from "../harness/real.ts";

/** Prints one JSON line (bigints as strings), however long. */
function print(value: unknown): void {
  const line = JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v);
  let bytes = new TextEncoder().encode(`${line}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

async function ownPidNamespace(): Promise<string> {
  return String((await Deno.stat("/proc/self/ns/pid")).ino);
}

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** `crienrich trace -o json ARGS -r SOCKET` in this namespace, its stderr watched. */
function startTrace(args: string[], socket: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "trace", "-o", "json", ...args, "-r", socket],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr: string[] = [];
  const stderrDone = (async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      stderr.push(...lines);
    }
    if (rest) stderr.push(rest);
  })();
  return {
    /** Waits for a stderr line matching `pattern` (the trace announces itself attached). */
    async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
      for (const end = Date.now() + timeoutMs; Date.now() < end;) {
        if (stderr.some((line) => pattern.test(line))) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`trace ${args.join(" ")}: no stderr line ${pattern}: ${stderr.join("\n")}`);
    },
    async finish() {
      const [status, out] = await Promise.all([child.status, stdout, stderrDone]);
      const events = out.split("\n").filter(Boolean).map((line) => JSON.parse(line));
      return { code: status.code, events, stderr };
    },
  };
}

/** A process as this namespace's /proc shows it. */
interface ProcEntry {
  pid: number;
  ppid: number;
  argv: string[];
}

/** A process as this namespace's /proc shows it, or null once gone. */
async function procEntry(pid: number): Promise<ProcEntry | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").slice(0, -1);
    return { pid, ppid, argv };
  } catch {
    return null;
  }
}

/** Every process of this namespace's /proc. */
async function procEntries(): Promise<ProcEntry[]> {
  const entries: ProcEntry[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const found = await procEntry(Number(entry.name));
    if (found) entries.push(found);
  }
  return entries;
}

/** Runs `/bin/echo WORD` as a child of this process; returns its pid here. */
async function echoHere(word: string): Promise<number> {
  const child = new Deno.Command("/bin/echo", { args: [word], stdout: "null" }).spawn();
  await child.status;
  return child.pid;
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
  case "node-trace": {
    const [dir, token] = [args[0]!, args[1]!];
    const lab = await Lab.start(dir);
    try {
      const until = ["--duration", "25s", "--until-args"];
      const podTrace = startTrace(
        ["--pod", "foo", "-n", "demo", ...until, `pod-end-${token}`],
        lab.socket,
      );
      const nodeTrace = startTrace(["--all", "--host", ...until, `node-end-${token}`], lab.socket);
      await podTrace.waitFor(/^crienrich: waiting for pod "foo"/);
      await nodeTrace.waitFor(/^crienrich: tracing /);

      // Pod foo's init execs while both traces run; pod bar is another pod of this node.
      const foo = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      const fooId = await lab.runContainer(foo, "app", ["/bin/sleep", "3333"]);
      const bar = await lab.runPod({ name: "bar", namespace: "demo", cgroupParent: "kubelet" });
      const barId = await lab.runContainer(bar, "app");
      const ps = await runCli(["ps", "--pod", "foo", "-n", "demo", "-o", "json", "-r", lab.socket]);
      const psPid: number | null = ps.code === 0 ? JSON.parse(ps.stdout).pid : null;
      const init = psPid === null ? null : await procEntry(psPid);

      // A command in foo that outlives its ExecSync's start long enough to be found in this
      // namespace's /proc, with a child (sleep) forked by its shell.
      const script = `echo pod-${token} $$; /bin/sleep 1; echo done`;
      const execution = lab.exec(fooId, ["/bin/sh", "-c", script]);
      let shell: ProcEntry | null = null, sleep: ProcEntry | null = null;
      for (const end = Date.now() + 5_000; !(shell && sleep) && Date.now() < end;) {
        const entries = await procEntries();
        shell ??= entries.find((e) => e.argv[0] === "/bin/sh" && e.argv[2] === script) ?? null;
        const shellPid = shell?.pid;
        sleep ??= entries.find((e) => e.ppid === shellPid && e.argv[1] === "1") ?? null;
        await new Promise((r) => setTimeout(r, 20));
      }
      const exec = await execution;
      await lab.exec(barId, ["/bin/echo", `bar-${token}`]);
      const nodeEcho = { pid: await echoHere(`node-${token}`), ppid: Deno.pid };

      // Ends both traces (--until-args), each after all of the above has been read from
      // every CPU's buffer (their drain interval is at most 50 ms).
      await new Promise((r) => setTimeout(r, 300));
      await lab.exec(fooId, ["/bin/echo", `pod-end-${token}`]);
      await echoHere(`node-end-${token}`);
      const [pod, node] = await Promise.all([podTrace.finish(), nodeTrace.finish()]);
      print({
        ownInode: await ownPidNamespace(),
        lastPid: Number(await Deno.readTextFile("/proc/sys/kernel/ns_last_pid")),
        containerdPid: Number(await Deno.readTextFile(`${dir}/containerd.pid`)),
        fooId,
        fooUid: foo.uid,
        barId,
        script,
        ps: { code: ps.code, stderr: ps.stderr, pid: psPid },
        init,
        shell,
        sleep,
        exec,
        nodeEcho,
        podTrace: pod,
        nodeTrace: node,
      });
    } finally {
      await lab.stop();
    }
    break;
  }
  default:
    throw new Error(`unknown mode "${mode}"`);
}
