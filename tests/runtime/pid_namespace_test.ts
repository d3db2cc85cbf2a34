/**
 * PID namespace detection (`src/runtime/pid_namespace.ts`): the socket peer through libc,
 * then for real in private PID namespaces (`unshare --pid --fork --mount-proc`, as a
 * DaemonSet without `hostPID: true` or a kind node sees the machine): a listener outside
 * vs inside the namespace, `trace` stopping with exit code 8 while the runtime runs on the
 * host, `ps` and `trace` with a `--host-root` whose proc is the host's, and a containerd started inside the
 * namespace (a kind-like node): detected, then traced end to end (events in the node's pids,
 * nothing from outside it).
 */
import assert from "node:assert/strict";
import { spawnWithHostRoot } from "../harness/host_root.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  detectPidNamespace,
  INIT_PID_NAMESPACE_INODE,
  procShowsInitialPidNamespace,
  requireVisibleRuntime,
  socketPeerPid,
} from "../../src/runtime/pid_namespace.ts";
import { ExitCode, PidNamespaceError, RuntimeUnavailableError } from "../../src/errors.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { realTest, runCli, withLab } from "../harness/real.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const HELPER = fileURLToPath(new URL("./_pid_namespace_helper.ts", import.meta.url));
const MAIN = join(REPO, "src/main.ts");
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A unix listener in this process at a fresh path; close it with `using`. */
function listenerHere(dir: string): { path: string } & Disposable {
  const path = join(dir, "peer.sock");
  const listener = Deno.listen({ transport: "unix", path });
  return { path, [Symbol.dispose]: () => listener.close() };
}

// --- the socket peer, without root ----------------------------------------------------

Deno.test("socketPeerPid() gives the listening process's pid, here this one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crpid-" });
  try {
    using listener = listenerHere(dir);
    assert.equal(socketPeerPid(listener.path), Deno.pid);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("socketPeerPid() names the socket and the failed call in its errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crpid-" });
  try {
    assert.throws(
      () => socketPeerPid(join(dir, "missing.sock")),
      (e: Error) =>
        e instanceof RuntimeUnavailableError &&
        e.message ===
          `Cannot read the peer of runtime socket "${
            join(dir, "missing.sock")
          }": connect: no such file or directory`,
    );
    // A file that is no socket: the kernel refuses the connection.
    await Deno.writeTextFile(join(dir, "file"), "");
    assert.throws(() => socketPeerPid(join(dir, "file")), /connect: connection refused$/);
    assert.throws(() => socketPeerPid(`/${"x".repeat(120)}`), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("procShowsInitialPidNamespace() is false for a directory without tasks, and a missing one fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crpid-" });
  try {
    await Deno.mkdir(join(dir, "1/ns"), { recursive: true });
    await Deno.mkdir(join(dir, "self"));
    assert.equal(await procShowsInitialPidNamespace(dir), false);
    await assert.rejects(
      () => procShowsInitialPidNamespace(join(dir, "nonexistent")),
      (e: Error) =>
        e instanceof PidNamespaceError && e.message.startsWith(`Cannot list processes in "`) &&
        e.message.includes("--host-root"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- for real: the host, and private PID namespaces -----------------------------------

realTest("detectPidNamespace() on this host: host, without touching the socket", async () => {
  // The inode that names the initial namespace (PROC_PID_INIT_INO) is this machine's.
  assert.equal(BigInt((await Deno.stat("/proc/self/ns/pid")).ino!), INIT_PID_NAMESPACE_INODE);
  assert.equal(await procShowsInitialPidNamespace("/proc"), true);
  const view = await detectPidNamespace({ procRoot: "/proc", criSocketPath: "/nonexistent.sock" });
  assert.deepEqual(view, { kind: "host" });
  assert.deepEqual(
    await requireVisibleRuntime({ procRoot: "/proc", criSocketPath: "/nonexistent.sock" }),
    { kind: "host" },
  );
});

/** Runs `unshare ARGS` with piped output; never throws. */
async function unshare(...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("unshare", {
    args,
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** Runs `bash -c SCRIPT` as pid 1 of a new PID namespace with its own /proc. */
async function inPrivatePidNamespace(script: string, ...args: string[]) {
  // bash as pid 1 reaps what it adopts; the namespace (and its listener) ends with it.
  const out = await unshare(
    "--pid",
    "--fork",
    "--mount-proc",
    "bash",
    "-c",
    script,
    "bash",
    ...args,
  );
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

interface Detected {
  view: { kind: string; pidnsInode?: string; pidnsDev?: string; runtimePid?: number };
  ownInode: string;
}

realTest(
  "detectPidNamespace() in a private PID namespace: blind to a listener outside, node with one inside",
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "crpid-" });
    const deno = Deno.execPath();
    try {
      await t.step("listener on the host: blind, with the namespace's own inode", async () => {
        using listener = listenerHere(dir);
        const out = await inPrivatePidNamespace(
          `"${deno}" run -A --quiet "$1" detect /proc "$2"`,
          HELPER,
          listener.path,
        );
        assert.equal(out.code, 0, out.stderr);
        const { view, ownInode } = JSON.parse(out.stdout) as Detected;
        assert.notEqual(ownInode, String(INIT_PID_NAMESPACE_INODE));
        assert.deepEqual(view, { kind: "blind", pidnsInode: ownInode });
      });

      await t.step("listener in the namespace: node, its pid there and the inode", async () => {
        const sock = join(dir, "inside.sock");
        const out = await inPrivatePidNamespace(
          `"${deno}" run -A --quiet "$1" listen "$2" &
         for _ in $(seq 100); do [ -S "$2" ] && break; sleep 0.1; done
         "${deno}" run -A --quiet "$1" detect /proc "$2"
         echo "listener=$!"`,
          HELPER,
          sock,
        );
        assert.equal(out.code, 0, out.stderr);
        const [line, listenerLine] = out.stdout.trimEnd().split("\n");
        const { view, ownInode } = JSON.parse(line!) as Detected;
        const dev = String((await Deno.stat("/proc/self/ns/pid")).dev); // nsfs: one per boot
        assert.deepEqual(view, {
          kind: "node",
          pidnsInode: ownInode,
          pidnsDev: dev,
          runtimePid: Number(listenerLine!.split("=")[1]),
        });
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

realTest(
  "trace and ps in a private PID namespace stop with exit code 8 and one line while the runtime runs on the host",
  async (t) => {
    await withLab(async (lab) => {
      const pod = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      await lab.runContainer(pod, "app");
      const blindLine = new RegExp(
        `^crienrich: Cannot see the runtime's processes: crienrich runs in a private PID namespace \\(pid:\\[\\d+\\]\\) from which the runtime behind "${lab.socket}" is invisible; run crienrich with hostPID: true \\(Kubernetes\\) or docker run --pid=host, or mount the host's / and pass --host-root DIR\\n$`,
      );
      for (
        const args of [
          ["trace", "--pod", "foo", "-r", `unix://${lab.socket}`, "--duration", "2s"],
          ["ps", "--pod", "foo", "-n", "demo", "-r", `unix://${lab.socket}`],
        ]
      ) {
        await t.step(args[0]!, async () => {
          const out = await unshare(
            "--pid",
            "--fork",
            "--mount-proc",
            Deno.execPath(),
            "run",
            "-A",
            "--quiet",
            MAIN,
            ...args,
          );
          const stderr = decode(out.stderr);
          assert.match(stderr, blindLine);
          assert.equal(decode(out.stdout), "", "no table header, no event");
          assert.equal(out.code, ExitCode.PidNamespaceBlind);
        });
      }
    });
  },
);

realTest(
  "ps and trace with --host-root DIR whose proc is the host's, from a private PID namespace: host pids, right events",
  async (t) => {
    await withLab(async (lab) => {
      const pod = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      const id = await lab.runContainer(pod, "app");
      const root = await Deno.makeTempDir({ prefix: "crroot-" });
      try {
        await t.step("ps --pod: the same record as on the host, pid included", async () => {
          const psArgs = ["ps", "--pod", "foo", "-n", "demo", "-o", "json", "-r", lab.socket];
          const onHost = await runCli(psArgs);
          assert.equal(onHost.code, 0, onHost.stderr);
          const expected = JSON.parse(onHost.stdout) as ContainerRecord;
          assert.equal(expected.id, id);
          assert.ok(expected.pid && expected.mntns_id && expected.cgroup_id, onHost.stdout);
          const out = await spawnWithHostRoot(root, psArgs).output();
          const stderr = decode(out.stderr);
          assert.equal(out.code, 0, stderr);
          assert.equal(stderr, "");
          const record = JSON.parse(decode(out.stdout)) as ContainerRecord;
          assert.deepEqual(
            [record.id, record.pid, record.mntns_id, record.cgroup_id, record.cgroup_path],
            [id, expected.pid, expected.mntns_id, expected.cgroup_id, expected.cgroup_path],
          );
        });

        await t.step(
          "trace --pod: the pod's exec, enriched, and exit 0 on --until-args",
          async () => {
            const child = spawnWithHostRoot(root, [
              "trace",
              "--pod",
              "foo",
              "-n",
              "demo",
              "-o",
              "json",
              "--events",
              "exec",
              "--until-args",
              "hello-from-a-pid-namespace",
              "--duration",
              "30s",
              "-r",
              lab.socket,
            ]);
            const stdout = new Response(child.stdout).text();
            const stderrLines: string[] = [];
            const stderrDone = (async () => {
              for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
                stderrLines.push(...chunk.split("\n").filter(Boolean));
              }
            })();
            const end = Date.now() + 20_000;
            while (
              !stderrLines.some((l) => l.startsWith("crienrich: tracing")) && Date.now() < end
            ) {
              await new Promise((r) => setTimeout(r, 50));
            }
            assert.ok(
              stderrLines.some((l) => l.startsWith("crienrich: tracing")),
              stderrLines.join("\n"),
            );
            await lab.exec(id, ["/bin/echo", "hello-from-a-pid-namespace"]);
            const [status] = await Promise.all([child.status, stderrDone]);
            const events = (await stdout).split("\n").filter(Boolean).map((l) => JSON.parse(l));
            assert.equal(status.code, 0, stderrLines.join("\n"));
            const exec = events.find((e) => e.process.args?.includes("hello-from-a-pid-namespace"));
            assert.ok(exec, JSON.stringify(events));
            assert.deepEqual([exec.pod.name, exec.pod.namespace, exec.container.id], [
              "foo",
              "demo",
              id,
            ]);
            assert.ok(exec.process.pid > 0);
          },
        );
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  },
);

interface NodeLab extends Detected {
  containerId: string;
  ps: { code: number; stderr: string; pid: number | null; cmdline: string };
  doctor: { code: number; check: { status: string; detail: string; hint: string | null } };
}

realTest(
  "a kind-like node: containerd and crienrich in one private PID namespace: node, pids of that namespace",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "crn-" });
    try {
      const out = await inPrivatePidNamespace(
        `"${Deno.execPath()}" run -A --quiet "$1" node-lab "$2"; status=$?; exit $status`,
        HELPER,
        dir,
      );
      assert.equal(out.code, 0, out.stderr);
      const result = JSON.parse(out.stdout) as NodeLab;
      assert.equal(result.view.kind, "node");
      assert.equal(result.view.pidnsInode, result.ownInode);
      assert.notEqual(result.ownInode, String(INIT_PID_NAMESPACE_INODE));
      assert.ok(result.view.runtimePid! > 1, "containerd's pid in the node");
      // The runtime reports pids as the node numbers them; /proc there agrees.
      assert.equal(result.ps.code, 0, result.ps.stderr);
      // That pid in the node's /proc is the container's process.
      assert.equal(result.ps.cmdline.trim(), "/bin/sleep 3600");
      assert.equal(result.doctor.check.status, "ok");
      assert.match(
        result.doctor.check.detail,
        new RegExp(`^private PID namespace pid:\\[${result.ownInode}\\] .* holds the runtime`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

/** One line of `trace -o json` (README "Trace events"), the fields asserted here. */
interface TraceLine {
  type: "exec" | "exit" | "lost";
  process: { pid: number; ppid: number; comm: string; args?: string[]; exit_code?: number };
  container: { id: string; name: string } | null;
  pod: { name: string; namespace: string; uid: string } | null;
  pod_sandbox: boolean;
  unresolved: boolean;
}

interface ProcEntry {
  pid: number;
  ppid: number;
  argv: string[];
}

/** What the helper's `node-trace` mode prints (see _pid_namespace_helper.ts). */
interface NodeTrace {
  ownInode: string;
  lastPid: number;
  containerdPid: number;
  fooId: string;
  fooUid: string;
  barId: string;
  script: string;
  ps: { code: number; stderr: string; pid: number | null };
  init: ProcEntry | null;
  shell: ProcEntry | null;
  sleep: ProcEntry | null;
  exec: { stdout: string; stderr: string; exitCode: number };
  nodeEcho: { pid: number; ppid: number };
  podTrace: { code: number; events: TraceLine[]; stderr: string[] };
  nodeTrace: { code: number; events: TraceLine[]; stderr: string[] };
}

/**
 * Watches the host's /proc until stopped for a `/bin/sh -c SCRIPT` whose script starts
 * with `prefix`; gives its `NSpid` row (host pid, then the pid in each nested namespace).
 */
function watchHostProc(prefix: string) {
  let nspid: number[] | null = null;
  let running = true;
  const done = (async () => {
    while (running && !nspid) {
      for await (const entry of Deno.readDir("/proc")) {
        if (!/^\d+$/.test(entry.name)) continue;
        try {
          const argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
          if (argv[0] !== "/bin/sh" || !argv[2]?.startsWith(prefix)) continue;
          const status = await Deno.readTextFile(`/proc/${entry.name}/status`);
          nspid = status.match(/^NSpid:\s+(.*)$/m)![1]!.split(/\s+/).map(Number);
          break;
        } catch {
          // gone meanwhile
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop(): Promise<number[] | null> {
      running = false;
      await done;
      return nspid;
    },
  };
}

realTest(
  "a kind-like node traced: trace --pod foo in the node prints foo's events with the node's pids and nothing from outside it",
  async () => {
    const token = `m${Date.now().toString(36)}`;
    const dir = await Deno.makeTempDir({ prefix: "crn-" });
    try {
      // Outside the node, all the while: host commands (one with a private mount namespace,
      // as sent to user space when unknown) and a pod of the same name and namespace,
      // demo/foo, in a containerd on the host.
      await withLab(async (hostLab) => {
        const hostPod = await hostLab.runPod({
          name: "foo",
          namespace: "demo",
          cgroupParent: "kubelet",
        });
        const hostId = await hostLab.runContainer(hostPod, "app");
        const outside = new Deno.Command("bash", {
          args: [
            "-c",
            `while :; do /bin/echo outside-${token}; unshare -m /bin/echo outside-${token}; sleep 0.05; done`,
          ],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const outsideLines = new Response(outside.stdout).text();
        let hostExecs = 0;
        let looping = true;
        const hostPodLoop = (async () => {
          while (looping) {
            await hostLab.exec(hostId, ["/bin/echo", `outside-${token}`]);
            hostExecs++;
          }
        })();
        const watcher = watchHostProc(`echo pod-${token} `);

        let out, nspid;
        try {
          out = await inPrivatePidNamespace(
            `"${Deno.execPath()}" run -A --quiet "$1" node-trace "$2" "$3"`,
            HELPER,
            dir,
            token,
          );
        } finally {
          looping = false;
          outside.kill("SIGTERM");
          await outside.status;
          await hostPodLoop;
          nspid = await watcher.stop();
        }
        assert.equal(out.code, 0, out.stderr);
        // The outside activity overlapped the node's traces.
        assert.ok((await outsideLines).split("\n").length > 20, "host commands ran");
        assert.ok(hostExecs >= 3, `the host's pod foo ran ${hostExecs} commands`);

        const r = JSON.parse(out.stdout) as NodeTrace;
        const pod = r.podTrace;
        const node = r.nodeTrace;
        const context = (t: { events: TraceLine[]; stderr: string[] }) =>
          `${t.stderr.join("\n")}\n${t.events.map((e) => JSON.stringify(e)).join("\n")}`;
        assert.equal(pod.code, 0, `--until-args pod-end matched:\n${context(pod)}`);
        assert.equal(node.code, 0, `--until-args node-end matched:\n${context(node)}`);
        assert.match(pod.stderr[0]!, /^crienrich: waiting for pod "foo", namespace "demo"/);
        assert.equal(
          node.stderr[0],
          `crienrich: tracing every container and the host in PID namespace pid:[${r.ownInode}] (0 running containers selected)`,
        );
        assert.match(pod.stderr.at(-1)!, /, 0 lost, 0 unresolved, 0 not proven/);

        // `ps` in the node gives the container's pid as the node's /proc shows it.
        assert.equal(r.ps.code, 0, r.ps.stderr);
        assert.deepEqual(r.init, {
          pid: r.ps.pid,
          ppid: r.init?.ppid,
          argv: ["/bin/sleep", "3333"],
        });
        assert.ok(r.shell && r.sleep, "the ExecSync's shell and its sleep in the node's /proc");
        assert.equal(r.exec.exitCode, 0, r.exec.stderr);

        // 1. Only pod foo of the node, each event as its container (or its sandbox).
        for (const e of pod.events) {
          assert.deepEqual(
            [e.pod?.name, e.pod?.namespace, e.pod?.uid, e.unresolved],
            ["foo", "demo", r.fooUid, false],
            JSON.stringify(e),
          );
          if (e.pod_sandbox) assert.equal(e.container, null, JSON.stringify(e));
          else assert.deepEqual([e.container?.id, e.container?.name], [r.fooId, "app"]);
        }

        // 2. The pids are the node's: what its /proc and `ps` show.
        const find = (t: { events: TraceLine[] }, type: string, pid: number) =>
          t.events.filter((e) => e.type === type && e.process.pid === pid);
        const [initExec, ...more] = find(pod, "exec", r.init!.pid);
        assert.deepEqual(more, []);
        assert.deepEqual(initExec?.process.args, ["/bin/sleep", "3333"], context(pod));
        assert.equal(initExec.process.ppid, r.init!.ppid, "its parent, the shim");
        const [shellExec] = find(pod, "exec", r.shell.pid);
        assert.deepEqual(shellExec?.process.args, ["/bin/sh", "-c", r.script], context(pod));
        const [shellExit] = find(pod, "exit", r.shell.pid);
        // Its parent at exit, as the node numbers it: `runc exec` while it lives (what the
        // node's /proc showed), or the shim once runc has gone and it was reparented.
        assert.equal(shellExit?.process.exit_code, 0, context(pod));
        assert.ok(
          [r.shell.ppid, r.init!.ppid].includes(shellExit!.process.ppid),
          `shell's parent at exit ${shellExit!.process.ppid}: ${context(pod)}`,
        );
        const [sleepExec] = find(pod, "exec", r.sleep.pid);
        assert.deepEqual(
          [sleepExec?.process.args, sleepExec?.process.ppid],
          [["/bin/sleep", "1"], r.shell.pid],
          context(pod),
        );
        const [sleepExit] = find(pod, "exit", r.sleep.pid);
        assert.equal(sleepExit?.process.ppid, r.shell.pid, context(pod));
        // The same process seen from the host: host pid, node pid, pid in its container.
        const containerPid = Number(r.exec.stdout.match(new RegExp(`^pod-${token} (\\d+)\n`))?.[1]);
        assert.ok(nspid, "the host saw the ExecSync's shell");
        assert.deepEqual(nspid.slice(1), [r.shell.pid, containerPid], `NSpid ${nspid}`);
        assert.notEqual(nspid[0], r.shell.pid, "the host numbers it otherwise");

        // A node process outside containers (with --host), numbered by the node too.
        const [echo] = find(node, "exec", r.nodeEcho.pid);
        assert.deepEqual(
          [echo?.process.args, echo?.process.ppid, echo?.pod, echo?.container],
          [["/bin/echo", `node-${token}`], r.nodeEcho.ppid, null, null],
          context(node),
        );
        assert.deepEqual(find(node, "exec", r.shell.pid)[0]?.pod?.name, "foo");
        assert.ok(
          node.events.some((e) => e.pod?.name === "bar" && e.process.args?.[1] === `bar-${token}`),
          "pod bar of the node, with --all",
        );

        // 3. Parent chains run through node pids up to the node's containerd: every parent
        // is a process the node's --all --host trace saw exec (runc, the shim, ...).
        const parentOf = new Map<number, number>();
        for (const e of node.events) {
          if (e.type === "exec") parentOf.set(e.process.pid, e.process.ppid);
        }
        for (const e of pod.events) {
          const chain = [e.process.pid, e.process.ppid];
          while (chain.at(-1) !== r.containerdPid && chain.length < 10) {
            const parent = parentOf.get(chain.at(-1)!);
            assert.ok(parent !== undefined, `no exec of ${chain.at(-1)} in the node: ${chain}`);
            chain.push(parent);
          }
          assert.equal(chain.at(-1), r.containerdPid, `${chain}: ${JSON.stringify(e)}`);
        }

        // 4. Nothing from outside the node: no outside command, no pid the node does not
        // have (it has numbered 1..lastPid; the host, which numbers the node's processes
        // too, is beyond: a host pid would show).
        assert.ok(nspid[0]! > r.lastPid, `host pid ${nspid[0]}, node's last ${r.lastPid}`);
        for (const e of [...pod.events, ...node.events]) {
          assert.ok(
            !e.process.args?.some((a) => a.includes(`outside-${token}`)),
            JSON.stringify(e),
          );
          assert.ok(e.process.pid > 0 && e.process.pid <= r.lastPid, JSON.stringify(e));
          assert.ok(e.process.ppid >= 0 && e.process.ppid <= r.lastPid, JSON.stringify(e));
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
