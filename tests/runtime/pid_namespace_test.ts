/**
 * PID namespace detection (`src/runtime/pid_namespace.ts`): the socket peer through libc,
 * then for real in private PID namespaces (`unshare --pid --fork --mount-proc`, as a
 * DaemonSet without `hostPID: true` or a kind node sees the machine): a listener outside
 * vs inside the namespace, `trace` stopping with exit code 8 while the runtime runs on the
 * host, `ps` and `trace` with a `--host-root` whose proc is the host's, and a containerd started inside the
 * namespace (a kind-like node).
 */
import assert from "node:assert/strict";
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

/**
 * Spawns `crienrich ARGS --host-root ROOT` as pid 1 of a new PID namespace, with the host's
 * /proc and /sys bind-mounted under ROOT. The mounts live in a private mount namespace that
 * ends with the command: nothing stays mounted, nothing propagates back to the host.
 */
function spawnWithHostRoot(root: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "bash",
      "-c",
      `set -e; mkdir -p "$1/proc" "$1/sys"
       mount --bind /proc "$1/proc"; mount --rbind /sys "$1/sys"
       shift; exec unshare --pid --fork --mount-proc "$@"`,
      "bash",
      root,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      MAIN,
      ...args,
      "--host-root",
      root,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

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
          "trace --pod: the pod's exec, enriched, and exit 0 on --until-exec",
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
              "--until-exec",
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
