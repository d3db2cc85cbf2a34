/**
 * `crienrich trace` end to end: the real kernel, a real private containerd, pods created as
 * the kubelet creates them (pod-level cgroup parent `/kubepods/besteffort/pod<uid>`), and
 * commands run in them with CRI ExecSync.
 */
import assert from "node:assert/strict";
import { realTest, withLab } from "../harness/real.ts";
import { TraceProcess } from "../harness/trace_process.ts";
import { runFooAndBar } from "../harness/pods.ts";
import type { Lab } from "../../scripts/lab/lab.ts";
import { ExitCode } from "../../src/errors.ts";

const mainPath = new URL("../../src/main.ts", import.meta.url).pathname;

async function bpfProgramsOfOurs(): Promise<string[]> {
  const output = await new Deno.Command("bpftool", { args: ["-j", "prog", "show"] }).output();
  const programs = JSON.parse(new TextDecoder().decode(output.stdout)) as { name?: string }[];
  return programs.map((p) => p.name ?? "").filter((name) => name.startsWith("crienrich"));
}

const setup = (lab: Lab) => runFooAndBar(lab);

realTest("trace reports execs and exits of the selected pod only, enriched", async (t) => {
  await withLab(async (lab) => {
    const { foo, app, db } = await setup(lab);
    const trace = new TraceProcess(
      ["--pod", "foo", "-n", "demo", "--duration", "60s", "--debug"],
      lab.socket,
    );
    await trace.waitFor(/^crienrich: tracing pod "foo", namespace "demo" \(1 running/);

    const inFoo = await lab.exec(app, ["/bin/sh", "-c", "echo hello-crienrich a b; exit 3"]);
    assert.equal(inFoo.exitCode, 3);
    assert.equal((await lab.exec(db, ["/bin/sh", "-c", "echo in-bar; exit 0"])).exitCode, 0);
    const host = await new Deno.Command("/bin/sh", { args: ["-c", "echo host-marker-crienrich"] })
      .output();
    assert.ok(host.success);
    // A container started after the trace began: its entrypoint's exec must appear.
    const late = await lab.runContainer(foo, "late", [
      "/bin/sh",
      "-c",
      "echo late-entrypoint-crienrich; exec /bin/sleep 3600",
    ]);
    // Wait until the entrypoint has exec'd sleep (its cmdline says so), then a little more
    // for the events to be read, and stop the trace.
    const latePid = JSON.parse((await lab.client.containerStatus(late)).info.info!).pid;
    for (let i = 0; i < 100; i++) {
      const cmdline = await Deno.readTextFile(`/proc/${latePid}/cmdline`).catch(() => "");
      if (cmdline.startsWith("/bin/sleep")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    trace.child.kill("SIGINT");
    const { code, events, stderr } = await trace.finish();
    assert.equal(code, ExitCode.Ok, stderr.join("\n"));

    await t.step(
      "the exec in foo carries pod, namespace, container, image, binary and args",
      () => {
        const exec = events.find((e) =>
          e.type === "exec" && e.process.args?.[2] === "echo hello-crienrich a b; exit 3"
        );
        assert.ok(exec, JSON.stringify(events.map((e) => e.process.args)));
        assert.equal(exec.process.binary, "/bin/sh");
        assert.deepEqual(exec.process.args, ["/bin/sh", "-c", "echo hello-crienrich a b; exit 3"]);
        assert.equal(exec.pod?.name, "foo");
        assert.equal(exec.pod?.namespace, "demo");
        assert.equal(exec.pod?.uid, foo.uid);
        assert.deepEqual(exec.pod?.labels, { app: "web" });
        assert.equal(exec.container?.id, app);
        assert.equal(exec.container?.name, "app");
        assert.equal(exec.container?.image, "crienrich.local/busybox:1");
        assert.match(exec.container?.image_id ?? "", /^sha256:[0-9a-f]{64}$/);
        assert.equal(exec.container?.runtime, "containerd");
        assert.match(exec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        const skew = Math.abs(Date.parse(exec.time) - Date.now());
        assert.ok(skew < 60_000, `event time ${exec.time} is ${skew} ms off`);

        const exit = events.find((e) => e.type === "exit" && e.process.pid === exec.process.pid);
        assert.ok(exit, "exit event of the exec'd shell");
        assert.equal(exit.process.exit_code, 3);
        assert.equal(exit.process.signal, 0);
        assert.ok((exit.process.duration_ns ?? 0) > 0);
        assert.equal(exit.container?.name, "app");
      },
    );

    await t.step("execs in other pods and on the host are not reported", () => {
      for (const event of events) {
        assert.equal(event.pod?.name, "foo", JSON.stringify(event));
        assert.equal(event.pod?.namespace, "demo");
      }
      const text = JSON.stringify(events);
      assert.ok(!text.includes("in-bar"));
      assert.ok(!text.includes("host-marker-crienrich"));
    });

    await t.step("a container started during the trace is seen from its entrypoint on", () => {
      const entry = events.find((e) =>
        e.type === "exec" && e.process.args?.[2]?.startsWith("echo late-entrypoint-crienrich")
      );
      assert.ok(entry, "entrypoint exec of the late container");
      assert.equal(entry.container?.id, late);
      assert.equal(entry.container?.name, "late");
      assert.equal(entry.pod?.name, "foo");
      const sleep = events.find((e) =>
        e.type === "exec" && e.process.args?.join(" ") === "/bin/sleep 3600"
      );
      assert.ok(
        sleep,
        JSON.stringify(events.map((e) => [e.type, e.process, e.container?.name])) +
          stderr.join("\n"),
      );
      assert.equal(sleep.container?.name, "late");
    });

    await t.step("stderr ends with the summary line", () => {
      assert.match(
        stderr.at(-1)!,
        /^crienrich: \d+ events? printed, \d+ other events filtered, 0 lost, 0 unresolved, \d+ not proven to be the selection's(, \d+ runtime helper events? hidden)?$/,
      );
      assert.ok(
        stderr.some((line) =>
          /^debug: mntns \d+ \(serial \d+\) allowed: demo\/foo\/late, by cgroup [0-9a-f]{13}$/.test(
            line,
          )
        ),
      );
    });

    await t.step("no BPF program of ours is left after exit", async () => {
      assert.deepEqual(await bpfProgramsOfOurs(), []);
    });
  });
});

realTest("trace waits for a pod that does not exist yet and stops at --count", async () => {
  await withLab(async (lab) => {
    const trace = new TraceProcess(
      ["--pod", "later", "-n", "demo", "--events", "exec", "--count", "1", "--duration", "60s"],
      lab.socket,
    );
    await trace.waitFor(/^crienrich: waiting for pod "later", namespace "demo" to start$/);
    const pod = await lab.runPod({ name: "later", namespace: "demo", cgroupParent: "kubelet" });
    const { code, events } = await trace.finish();
    assert.equal(code, ExitCode.Ok);
    // The pod's first process is its sandbox's (pause): the pod's, with no container.
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, "exec");
    assert.equal(events[0]!.container, null);
    assert.equal(events[0]!.pod_sandbox, true);
    assert.equal(events[0]!.pod?.name, "later");
    assert.equal(events[0]!.pod?.uid, pod.uid);
  });
});

realTest("trace --until-exec exits 0 on the awaited exec and 7 when it never comes", async () => {
  await withLab(async (lab) => {
    const { app, foo } = await setup(lab);
    const waiting = new TraceProcess(
      ["--pod", "foo", "--until-args", "awaited-marker", "--duration", "60s"],
      lab.socket,
    );
    await waiting.waitFor(/^crienrich: tracing/);
    await lab.exec(app, ["/bin/sh", "-c", "echo first"]);
    await lab.exec(app, ["/bin/echo", "awaited-marker"]);
    const seen = await waiting.finish();
    assert.equal(seen.code, ExitCode.Ok, seen.stderr.join("\n"));
    assert.deepEqual(seen.events.at(-1)!.process.args, ["/bin/echo", "awaited-marker"]);

    // Exact: an entrypoint whose command line names /bin/hostname is not its exec.
    for (const pattern of ["/bin/hostname", "host*"]) {
      const exact = new TraceProcess(
        ["--pod", "foo", "--until-exec", pattern, "--duration", "60s"],
        lab.socket,
      );
      await exact.waitFor(/^crienrich: tracing/);
      await lab.runContainer(foo, `gate-${pattern.length}`, [
        "/bin/sh",
        "-c",
        "sleep 1; /bin/hostname",
      ]);
      const gated = await exact.finish();
      assert.equal(gated.code, ExitCode.Ok, gated.stderr.join("\n"));
      const last = gated.events.at(-1)!;
      assert.equal(last.type, "exec");
      assert.equal(last.process.binary, "/bin/hostname", JSON.stringify(last));
      assert.ok(
        gated.events.some((e) => e.process.args?.join(" ") === "/bin/sh -c sleep 1; /bin/hostname"),
        "the entrypoint was printed before, without ending the trace",
      );
    }

    const never = new TraceProcess(
      ["--pod", "foo", "--until-exec", "never-runs", "--duration", "2s"],
      lab.socket,
    );
    const missed = await never.finish();
    assert.equal(missed.code, ExitCode.WaitTimedOut);
    assert.match(
      missed.stderr.at(-1)!,
      /^crienrich: No exec matching "never-runs" in pod "foo" before the trace ended$/,
    );
  });
});

realTest("trace counts lost samples when a burst overflows a tiny perf buffer", async () => {
  await withLab(async (lab) => {
    const { app } = await setup(lab);
    const trace = new TraceProcess(
      ["--pod", "foo", "--buffer-pages", "1", "--duration", "60s"],
      lab.socket,
    );
    await trace.waitFor(/^crienrich: tracing/);
    // The reader drains sooner as the rings fill, so a burst alone may not overflow them:
    // a stalled consumer (SIGSTOP, as a blocked stdout would) makes the overflow certain.
    trace.child.kill("SIGSTOP");
    try {
      await lab.exec(app, [
        "/bin/sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done",
      ]);
    } finally {
      trace.child.kill("SIGCONT");
    }
    await new Promise((r) => setTimeout(r, 500));
    trace.child.kill("SIGTERM");
    const { code, events, lost: lostLines, stderr } = await trace.finish();
    assert.equal(code, ExitCode.Ok);
    const lostRecords = lostLines.reduce((n, e) => n + e.lost, 0);
    assert.ok(lostRecords > 0, "lost records in the NDJSON output");
    const summary =
      /^crienrich: (\d+) events? printed, \d+ other events filtered, (\d+) lost, 0 unresolved, \d+ not proven to be the selection's(?:, (\d+) runtime helper events? hidden)?(?:, (\d+) cgroup samples? lost)?$/
        .exec(stderr.at(-1)!);
    assert.ok(summary, stderr.join("\n"));
    const [printed, lost, helpers, lostCgroup] = summary.slice(1).map((n) => Number(n ?? 0));
    assert.ok(lost! > 0);
    // The NDJSON lost records count every sample the kernel dropped, cgroup samples too.
    assert.equal(lostRecords, lost! + lostCgroup!);
    assert.equal(events.length, printed);
    // 3000 execs and exits of /bin/true, the exec and exit of the shell, and the exit of
    // runc's helper that joined the container for ExecSync: each printed, hidden or lost,
    // none silently dropped. `lost` may also hold first events of other namespaces (any
    // process on the machine that unshares one) sent while the reader was stopped, so the
    // bound is exact only on an idle machine.
    assert.ok(printed! + helpers! <= 6003, stderr.join("\n"));
    assert.ok(printed! + helpers! + lost! >= 6003, stderr.join("\n"));
    assert.ok(events.every((e) => e.pod?.name === "foo"), "only foo's events are printed");
  });
});

realTest("trace rejects bad input with one stderr line and a documented code", async () => {
  const cases: [string[], number][] = [
    [["--bogus"], ExitCode.Usage],
    [[], ExitCode.Usage],
    [["--pod", "foo", "--events", "fork"], ExitCode.Usage],
    [["--pod", "foo", "--buffer-pages", "3"], ExitCode.Usage],
    [["--pod", "foo", "--count", "0"], ExitCode.Usage],
    [["--all", "--pod", "foo"], ExitCode.Usage],
    [["--pod", "foo", "-r", "/nonexistent/crienrich.sock"], ExitCode.RuntimeUnavailable],
  ];
  for (const [args, expected] of cases) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", mainPath, "trace", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, expected, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, /^crienrich: [^\n]+\n$/, args.join(" "));
  }
});

realTest(
  "trace sees a new container whose mount namespace id an ended, denied one had",
  async () => {
    await withLab(async (lab) => {
      const { foo, bar } = await setup(lab);
      const trace = new TraceProcess(
        ["--pod", "foo", "-n", "demo", "--events", "exec", "--duration", "60s", "--debug"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      const mntnsOf = async (id: string) => {
        const pid = JSON.parse((await lab.client.containerStatus(id)).info.info!).pid;
        return (await Deno.stat(`/proc/${pid}/ns/mnt`)).ino!;
      };
      // A container of pod bar: denied in the kernel once its entrypoint's exec is seen.
      const temp = await lab.runContainer(bar, "temp");
      const tempMntns = await mntnsOf(temp);
      await trace.waitFor(
        new RegExp(`^debug: mntns ${tempMntns} \\(serial \\d+\\) denied: demo/bar/temp, by cgroup`),
      );
      await lab.client.call("RuntimeService", "StopContainer", { containerId: temp, timeout: 0 });
      await lab.client.call("RuntimeService", "RemoveContainer", { containerId: temp });
      // The kernel hands the freed id to the next namespace: the new container of pod foo.
      const fresh = await lab.runContainer(foo, "fresh", [
        "/bin/sh",
        "-c",
        "echo reuse-marker-crienrich; exec /bin/sleep 3600",
      ]);
      assert.equal(await mntnsOf(fresh), tempMntns, "the kernel reused the namespace id");
      await trace.waitFor(
        new RegExp(
          `^debug: mntns ${tempMntns} \\(serial \\d+\\) allowed: demo/foo/fresh, by cgroup`,
        ),
      );
      await new Promise((r) => setTimeout(r, 500));
      trace.child.kill("SIGINT");
      const { code, events } = await trace.finish();
      assert.equal(code, ExitCode.Ok);
      const entry = events.find((e) => e.process.args?.[2]?.startsWith("echo reuse-marker"));
      assert.ok(entry, "the entrypoint of the container in the reused namespace");
      assert.equal(entry.container?.id, fresh);
      assert.equal(entry.pod?.name, "foo");
    });
  },
);

realTest(
  "trace: the CI gate's edges (a misspelled pod, SIGHUP, --count with ExecSync)",
  async (t) => {
    await withLab(async (lab) => {
      const { app } = await setup(lab);

      await t.step("a selection that never matched exits with the not-found code", async () => {
        const trace = new TraceProcess(["--pod", "nope", "--duration", "2s"], lab.socket);
        const { code, stderr } = await trace.finish();
        assert.equal(code, ExitCode.NotFound, stderr.join("\n"));
        assert.equal(stderr[0], 'crienrich: waiting for pod "nope" to start');
        assert.equal(
          stderr.at(-1),
          'crienrich: No container matching pod "nope" ran during the trace',
        );
      });

      await t.step("SIGHUP ends the trace like SIGTERM: summary, exit 0", async () => {
        const trace = new TraceProcess(["--pod", "foo", "--duration", "60s"], lab.socket);
        await trace.waitFor(/^crienrich: tracing pod "foo"/);
        trace.child.kill("SIGHUP");
        const { code, stderr } = await trace.finish();
        assert.equal(code, ExitCode.Ok);
        assert.match(stderr.at(-1)!, /^crienrich: \d+ events? printed, /);
      });

      await t.step(
        "--count 1 with one ExecSync prints the command, not runc's helper",
        async () => {
          const trace = new TraceProcess(["--pod", "foo", "--count", "1"], lab.socket);
          await trace.waitFor(/^crienrich: tracing pod "foo"/);
          await lab.exec(app, ["/bin/echo", "count-marker"]);
          const { code, events } = await trace.finish();
          assert.equal(code, ExitCode.Ok);
          assert.equal(events.length, 1);
          assert.deepEqual(events[0]!.process.args, ["/bin/echo", "count-marker"]);
        },
      );

      await t.step("an awaited pod's appearance is announced", async () => {
        const trace = new TraceProcess(
          ["--pod", "later", "-n", "demo", "--count", "1", "--duration", "60s"],
          lab.socket,
        );
        await trace.waitFor(/^crienrich: waiting for pod "later"/);
        await lab.runPod({ name: "later", namespace: "demo", cgroupParent: "kubelet" });
        const { code, stderr } = await trace.finish();
        assert.equal(code, ExitCode.Ok);
        assert.ok(
          stderr.includes(
            'crienrich: pod "later", namespace "demo" appeared: its pod sandbox in pod demo/later',
          ),
          stderr.join("\n"),
        );
      });
    });
  },
);

realTest(
  "trace keeps causal order across CPUs: parents before children, exec before exit",
  async () => {
    await withLab(async (lab) => {
      const { app } = await setup(lab);
      const trace = new TraceProcess(["--pod", "foo", "--duration", "60s"], lab.socket);
      await trace.waitFor(/^crienrich: tracing pod "foo"/);
      // Six concurrent process trees on both CPUs, each a shell starting short children.
      await lab.exec(app, [
        "/bin/sh",
        "-c",
        "for t in 1 2 3 4 5 6; do /bin/sh -c 'for i in 1 2 3 4 5 6 7 8; do /bin/true; done' & done; wait",
      ]);
      await new Promise((r) => setTimeout(r, 1000));
      trace.child.kill("SIGINT");
      const { code, events } = await trace.finish();
      assert.equal(code, ExitCode.Ok);
      const times = events.map((e) => e.time);
      const execAt = new Map<number, number>();
      let trues = 0;
      events.forEach((e, index) => {
        if (index > 0) assert.ok(times[index - 1]! <= times[index]!, `time order at ${index}`);
        if (e.type === "exec") {
          execAt.set(e.process.pid, index);
          const parent = execAt.get(e.process.ppid);
          // A parent that exec'd in the pod is printed before its child's exec.
          if (parent !== undefined) assert.ok(parent < index);
          if (e.process.binary === "/bin/true") trues++;
        }
        if (e.type === "exit" && execAt.has(e.process.pid)) {
          assert.ok(execAt.get(e.process.pid)! < index, `exec before exit of ${e.process.pid}`);
        }
      });
      assert.equal(trues, 48, "every /bin/true exec");
    });
  },
);

realTest(
  "trace with reduced capabilities names what is missing, and keeps its deadline",
  async () => {
    await withLab(async (lab) => {
      await setup(lab);
      const run = async (caps: string) => {
        const started = Date.now();
        const output = await new Deno.Command("setpriv", {
          args: [
            `--bounding-set=-all,${caps}`,
            Deno.execPath(),
            "run",
            "--allow-all",
            "--quiet",
            mainPath,
            "trace",
            "--pod",
            "foo",
            "-o",
            "json",
            "--duration",
            "2s",
            "-r",
            lab.socket,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        return {
          code: output.code,
          stdout: decode(output.stdout),
          stderr: decode(output.stderr).trim().split("\n"),
          ms: Date.now() - started,
        };
      };
      // uid 0 with only CAP_BPF and CAP_PERFMON: containers' namespaces are out of reach.
      const reduced = await run("+bpf,+perfmon");
      assert.equal(reduced.code, ExitCode.PermissionDenied, reduced.stderr.join("\n"));
      assert.deepEqual(reduced.stderr, [
        "crienrich: Cannot trace: this process lacks CAP_SYS_PTRACE (reading other processes' mount namespaces): run as root, or grant those capabilities",
      ]);
      assert.equal(reduced.stdout, "");
      // With CAP_SYS_PTRACE too it traces, and stops at its deadline.
      const enough = await run("+bpf,+perfmon,+sys_ptrace,+dac_override,+dac_read_search");
      assert.equal(enough.code, ExitCode.Ok, enough.stderr.join("\n"));
      assert.match(
        enough.stderr[0]!,
        /^crienrich: tracing pod "foo" \(1 running container selected\)$/,
      );
      // Deno's start (about 1 s here) plus the 2 s duration plus at most a second.
      assert.ok(enough.ms < 6000, `took ${enough.ms} ms`);
    });
  },
);
