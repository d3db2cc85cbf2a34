/**
 * Breaking `trace`'s start-up, for real: the BPF object loads on a worker thread while the
 * runtimes are discovered, and attaches after. A stop signal while they are discovered, a
 * node where tracefs must be mounted without CAP_SYS_ADMIN, and a tracer set-up error beside
 * a missing runtime each end with one line and their documented exit code, and leave no
 * program loaded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realTest, withLab } from "../harness/real.ts";
import { silentSocket } from "../harness/sockets.ts";
import { runFooAndBar } from "../harness/pods.ts";
import { ExitCode } from "../../src/errors.ts";

const mainPath = new URL("../../src/main.ts", import.meta.url).pathname;
const CLI = [Deno.execPath(), "run", "--allow-all", "--quiet", mainPath];
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs `argv` (no shell) to its end; never throws. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/**
 * crienrich programs no live process holds (by the `prog_id` of its fds' fdinfo): left loaded
 * by a crienrich that is gone. Another user's running traces hold theirs, so they are not
 * counted; a program is reported only when it is still unheld after a few looks.
 */
async function orphanPrograms(): Promise<string[]> {
  let orphans: string[] = [];
  for (let look = 0; look < 4; look++) {
    if (look > 0) await new Promise((r) => setTimeout(r, 300));
    const listed: { id: number; name?: string }[] = JSON.parse(
      (await run(["bpftool", "prog", "show", "-j"])).stdout || "[]",
    );
    const held = new Set<number>();
    for (const proc of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(proc.name)) continue;
      try {
        for (const fd of Deno.readDirSync(`/proc/${proc.name}/fdinfo`)) {
          try {
            const info = Deno.readTextFileSync(`/proc/${proc.name}/fdinfo/${fd.name}`);
            const id = /^prog_id:\s*(\d+)/m.exec(info)?.[1];
            if (id) held.add(Number(id));
          } catch { /* closed meanwhile */ }
        }
      } catch { /* exited meanwhile */ }
    }
    orphans = listed.filter((p) => p.name?.startsWith("crienrich") && !held.has(p.id))
      .map((p) => `${p.id} ${p.name}`);
    if (orphans.length === 0) return [];
  }
  return orphans;
}

/** A host root whose /proc, /sys are the host's, containerd the lab's, Docker's `docker`. */
async function hostRoot(containerd: string): Promise<[string, string]> {
  const root = await Deno.makeTempDir({ prefix: "crb-" });
  await Deno.symlink("/proc", join(root, "proc"));
  await Deno.symlink("/sys", join(root, "sys"));
  await Deno.mkdir(join(root, "run/containerd"), { recursive: true });
  await Deno.symlink(containerd, join(root, "run/containerd/containerd.sock"));
  return [root, join(root, "run/docker.sock")];
}

realTest(
  "a stop signal while the runtimes are discovered ends the trace once started",
  async (t) => {
    await withLab(async (lab) => {
      const [root, dockerSock] = await hostRoot(lab.socket);
      // Discovery is held for --timeout by a Docker socket that never answers, so a signal
      // sent 1 s after spawn lands while the runtimes are asked and the object loads.
      await using _silent = silentSocket(dockerSock);
      try {
        const cases: [string, Deno.Signal, string[]][] = [
          ["SIGTERM", "SIGTERM", []],
          ["SIGHUP", "SIGHUP", []],
          // A shell running crienrich in the background (`crienrich trace ... &`) starts it
          // with SIGINT ignored: lost until crienrich listens, the trace would never end.
          ["SIGINT, ignored by the parent shell", "SIGINT", [
            "sh",
            "-c",
            'trap "" INT; exec "$@"',
            "sh",
          ]],
        ];
        for (const [name, signal, wrapper] of cases) {
          await t.step(name, async () => {
            const argv = [
              ...wrapper,
              ...CLI,
              "trace",
              "--all",
              "-o",
              "json",
              "--host-root",
              root,
              "--timeout",
              "2s",
              "--duration",
              "20s",
            ];
            const child = new Deno.Command(argv[0]!, {
              args: argv.slice(1),
              env: { NO_COLOR: "1" },
              stdout: "piped",
              stderr: "piped",
            }).spawn();
            const output = child.output();
            const started = Date.now();
            await new Promise((r) => setTimeout(r, 1000));
            child.kill(signal);
            const out = await output;
            const took = Date.now() - started;
            const stderr = decode(out.stderr).split("\n").filter(Boolean);
            assert.equal(out.code, ExitCode.Ok, stderr.join("\n"));
            // Ended once started (2 s of discovery, ~1 s of stop), not at --duration.
            assert.ok(took < 8000, `took ${took} ms`);
            assert.ok(
              stderr.some((l) => /^crienrich: tracing every container \(\d+ running/.test(l)),
              stderr.join("\n"),
            );
            assert.match(
              stderr.at(-1)!,
              /^crienrich: \d+ events? printed, \d+ other events filtered, \d+ lost/,
            );
            assert.ok(
              stderr.some((l) =>
                l ===
                  `crienrich: Docker Engine at unix://${dockerSock} did not answer (no answer within 2000 ms): its containers are left out`
              ),
              stderr.join("\n"),
            );
            // Every stdout line whole JSON.
            for (const line of decode(out.stdout).split("\n").filter(Boolean)) JSON.parse(line);
            assert.deepEqual(await orphanPrograms(), []);
          });
        }
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  },
);

/** `argv` run in a private mount namespace after the shell commands `setup`. */
function inPrivateMounts(setup: string, argv: string[]): string[] {
  return [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    `${setup}; exec "$@"`,
    "sh",
    ...argv,
  ];
}

/** `argv` in a private mount namespace where tracefs is unmounted, without CAP_SYS_ADMIN. */
function withoutTracefsNorSysAdmin(argv: string[]): string[] {
  return inPrivateMounts(
    "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null",
    ["setpriv", "--bounding-set", "-sys_admin", "--", ...argv],
  );
}

realTest(
  "tracefs to mount without CAP_SYS_ADMIN: exit 4 naming the mount, in trace and doctor",
  async (t) => {
    await withLab(async (lab) => {
      await t.step("trace", async () => {
        const result = await run(
          withoutTracefsNorSysAdmin([
            ...CLI,
            "trace",
            "--all",
            "-r",
            lab.socket,
            "--duration",
            "2s",
          ]),
        );
        assert.equal(result.stdout, "");
        assert.equal(
          result.stderr,
          'crienrich: Cannot mount tracefs at "/sys/kernel/tracing": EPERM (operation not permitted): mounting it needs CAP_SYS_ADMIN; or mount it first: mount -t tracefs tracefs /sys/kernel/tracing\n',
        );
        assert.equal(result.code, ExitCode.PermissionDenied);
        assert.deepEqual(await orphanPrograms(), []);
      });
      await t.step("doctor", async () => {
        const result = await run(
          withoutTracefsNorSysAdmin([...CLI, "doctor", "-r", lab.socket, "-o", "json"]),
        );
        const rows: { name: string; status: string; detail: string; hint: string | null }[] = result
          .stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
        assert.deepEqual(rows.find((r) => r.name === "tracefs"), {
          name: "tracefs",
          status: "fail",
          detail:
            'not mounted, and mounting it at "/sys/kernel/tracing" failed: EPERM (operation not permitted)',
          hint: "add CAP_SYS_ADMIN, or: mount -t tracefs tracefs /sys/kernel/tracing",
        });
        assert.equal(rows.find((r) => r.name === "runtime")?.status, "ok");
        assert.equal(result.code, ExitCode.PermissionDenied, result.stderr);
      });
    });
  },
);

/** `argv` in a private mount namespace without any cgroup filesystem mounted. */
function withoutCgroups(argv: string[]): string[] {
  return inPrivateMounts("umount -R /sys/fs/cgroup || exit 1", argv);
}

realTest("a tracer set-up error beside a missing runtime: the runtime's error wins", async (t) => {
  await withLab(async (lab) => {
    await t.step("the runtime is missing: exit 3", async () => {
      const missing = join(lab.dir, "nope.sock");
      const result = await run(
        withoutCgroups([...CLI, "trace", "--all", "-r", missing, "--duration", "2s"]),
      );
      assert.equal(
        result.stderr,
        `crienrich: No container runtime found: "${missing}" (missing); check the endpoint named by --runtime-endpoint, or start the runtime\n`,
      );
      assert.equal(result.code, ExitCode.RuntimeUnavailable);
    });
    await t.step("the runtime answers: the tracer's error, exit 6", async () => {
      const result = await run(
        withoutCgroups([...CLI, "trace", "--all", "-r", lab.socket, "--duration", "2s"]),
      );
      assert.equal(result.stderr, "crienrich: Cannot find a mounted cgroup filesystem\n");
      assert.equal(result.code, ExitCode.NotSupported);
      assert.deepEqual(await orphanPrograms(), []);
    });
  });
});

realTest(
  "--duration shorter than the first listing: running pods are not said to be awaited",
  async () => {
    await withLab(async (lab) => {
      await runFooAndBar(lab);
      const result = await run([
        ...CLI,
        "trace",
        "--pod",
        "foo",
        "-r",
        lab.socket,
        "--duration",
        "1ms",
      ]);
      const stderr = result.stderr.split("\n").filter(Boolean);
      // foo runs: "waiting for pod "foo" to start" would be false.
      assert.equal(
        stderr[0],
        `crienrich: tracing pod "foo" (running containers not listed before the trace's end)`,
      );
      assert.match(stderr[1]!, /^crienrich: 0 events printed, /);
      assert.equal(stderr.length, 2, result.stderr);
      // The end-of-trace listing sees foo running: it ran during the trace.
      assert.equal(result.code, ExitCode.Ok, result.stderr);
    });
  },
);
