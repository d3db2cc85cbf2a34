import assert from "node:assert/strict";
import {
  BpfError,
  type CgroupSample,
  checkTracingPrerequisites,
  type ExecEvent,
  type ExitEvent,
  libbpfVersion,
  mountNamespaceId,
  ProcessTracer,
  type TraceEvent,
} from "../../src/bpf/mod.ts";
import { openLibbpf } from "../../src/bpf/libbpf.ts";
import { NotSupportedError } from "../../src/errors.ts";
import { collect, IGNORE_KERNEL, parseMntns, requireKernel, run } from "./_kernel.ts";
import { bpfProgramIds } from "../../src/runtime/proc.ts";

const kernelTest = (name: string, fn: () => Promise<void> | void) =>
  Deno.test({ name, ignore: IGNORE_KERNEL, fn: () => (requireKernel(), fn()) });

const UNSHARE = ["-m", "--propagation", "private", "/bin/sh", "-c"];
const execs = (events: TraceEvent[], mntns: bigint) =>
  events.filter((e): e is ExecEvent => e.type === "exec" && e.mntnsId === mntns);
const exits = (events: TraceEvent[], mntns: bigint) =>
  events.filter((e): e is ExitEvent => e.type === "exit" && e.mntnsId === mntns);
const base = { traceExec: true, traceExit: true, traceHost: false, sendUnknown: true };

/** cgroup v2 id of this process: the inode of its directory in the unified hierarchy. */
function ownCgroupId(): bigint {
  const path = Deno.readTextFileSync("/proc/self/cgroup").split("\n")
    .find((l) => l.startsWith("0::"))!.slice(3);
  const mount = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" "))
    .find((f) => f[f.indexOf("-") + 1] === "cgroup2")![4]!;
  return BigInt(Deno.statSync(`${mount}${path}`).ino!);
}

kernelTest("ProcessTracer.open() reports exec and exit in a new mount namespace", async () => {
  using tracer = await ProcessTracer.open(base);
  const out = await run("unshare", [
    ...UNSHARE,
    "echo $$ $(readlink /proc/$$/ns/mnt); /bin/echo hello-crienrich x y >/dev/null; exit 3",
  ]);
  const [pidText, link] = out.trim().split(" ");
  const shellPid = Number(pidText);
  const mntns = parseMntns(link!);
  const got = await collect(
    tracer,
    3000,
    (c) => exits(c.events, mntns).some((e) => e.pid === shellPid),
  );

  const echo = execs(got.events, mntns).find((e) => e.binary === "/bin/echo");
  assert.ok(echo, "exec of /bin/echo");
  assert.deepEqual(echo.args, ["/bin/echo", "hello-crienrich", "x", "y"]);
  assert.equal(echo.ppid, shellPid);
  assert.equal(echo.tid, echo.pid);
  assert.equal(echo.comm, "echo");
  assert.equal(echo.mntnsUnknown, true);
  assert.equal(echo.uid, 0);
  assert.equal(echo.cgroupId, ownCgroupId());
  const sh = execs(got.events, mntns).find((e) => e.pid === shellPid);
  assert.equal(sh?.binary, "/bin/sh");
  const exit = exits(got.events, mntns).find((e) => e.pid === shellPid);
  assert.ok(exit, "exit of the shell");
  assert.deepEqual([exit.exitCode, exit.signal], [3, 0]);
  assert.ok(exit.durationNs > 0n);
  assert.ok(exit.tsBootNs > sh!.tsBootNs);
  const wall = tracer.bootTimeToWallClockNs(exit.tsBootNs);
  assert.ok(Math.abs(Number(wall / 1_000_000n) - Date.now()) < 10_000, "wall clock is now");
  assert.equal(got.lost, 0n);
  assert.equal(got.events.filter((e) => e.mntnsId === mountNamespaceId("self")).length, 0);
});

kernelTest("allowMountNamespace() and denyMountNamespace() decide in the kernel", async () => {
  using tracer = await ProcessTracer.open({ ...base, sendUnknown: false });
  const child = new Deno.Command("unshare", {
    args: [
      ...UNSHARE,
      "readlink /proc/$$/ns/mnt; read a; /bin/echo allowed; read b; /bin/echo denied",
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  const mntns = parseMntns((await lines.read()).value!);
  // Verdicts are keyed by the namespace's serial (NS_GET_MNTNS_ID: Linux 6.9+).
  const seq = openLibbpf().mountNamespaceSerial(`/proc/${child.pid}/ns/mnt`);
  assert.ok(seq !== undefined, "this kernel gives mount namespace serials");
  tracer.allowMountNamespace(seq);
  await writer.write(new TextEncoder().encode("\n"));
  assert.equal((await lines.read()).value, "allowed\n");
  tracer.denyMountNamespace(seq);
  await writer.write(new TextEncoder().encode("\n"));
  await writer.close();
  while (!(await lines.read()).done);
  await child.status;
  const got = await collect(tracer, 500);

  const seen = execs(got.events, mntns).map((e) => e.args[1]);
  assert.deepEqual(seen, ["allowed"], "no unknown exec, the allowed one, not the denied one");
  assert.equal(execs(got.events, mntns)[0]!.mntnsUnknown, false);
  assert.equal(execs(got.events, mntns)[0]!.mntnsSeq, seq, "the event carries the serial");
  // The namespace's last process has exited: the kernel dropped its verdict itself.
  assert.equal(tracer.forgetMountNamespace(seq), false);
  tracer.allowMountNamespace(seq);
  assert.equal(tracer.forgetMountNamespace(seq), true);
});

for (const traceHost of [false, true]) {
  kernelTest(
    `ProcessTracer.open() with traceHost=${traceHost} ${traceHost ? "sees" : "drops"} host execs`,
    async () => {
      using tracer = await ProcessTracer.open({ ...base, traceHost });
      const marker = `host-crienrich-${crypto.randomUUID()}`;
      await run("/bin/echo", [marker]);
      const got = await collect(
        tracer,
        traceHost ? 3000 : 500,
        (c) => c.events.some((e) => e.type === "exec" && e.args[1] === marker),
      );
      const hostExec = got.events.find((e) => e.type === "exec" && e.args[1] === marker);
      assert.equal(hostExec !== undefined, traceHost);
      if (hostExec) {
        assert.equal(hostExec.mntnsId, mountNamespaceId("self"));
        assert.equal(hostExec.mntnsUnknown, false);
      }
    },
  );
}

kernelTest("poll() reports lost samples when a 1-page buffer overflows", async () => {
  using tracer = await ProcessTracer.open({ ...base, perCpuBufferPages: 1 });
  await run("unshare", [...UNSHARE, "i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done"]);
  const got = await collect(tracer, 2000, (c) => c.lost > 0n);
  assert.ok(got.lost > 0n, `lost ${got.lost}, received ${got.events.length}`);
});

kernelTest("poll() keeps up with a 2000-exec storm while it runs", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceExit: false });
  const got = { events: [] as TraceEvent[], samples: [] as Uint8Array[], lost: 0n };
  let done = false;
  const storm = run("unshare", [
    ...UNSHARE,
    "i=0; while [ $i -lt 2000 ]; do /bin/true storm-crienrich; i=$((i+1)); done",
  ]).then(() => done = true);
  while (!done) await collect(tracer, 100, () => false, got);
  await storm;
  await collect(tracer, 300, () => false, got);
  const stormExecs = got.events.filter((e) => e.type === "exec" && e.args[1] === "storm-crienrich");
  Deno.stderr.writeSync(new TextEncoder().encode(
    `storm: 2000 execs, ${stormExecs.length} events, ${got.lost} lost\n`,
  ));
  assert.equal(stormExecs.length + Number(got.lost), 2000);
});

kernelTest("close() detaches: bpftool lists no crienrich program", async () => {
  const tracer = await ProcessTracer.open(base);
  const names = async () =>
    (JSON.parse(await run("bpftool", ["-j", "prog", "show"])) as { name?: string }[])
      .map((p) => p.name).filter((n) => n?.startsWith("crienrich"));
  assert.deepEqual((await names()).sort(), ["crienrich_exec", "crienrich_exit"]);
  const pending = tracer.poll(1000, () => {}, () => {});
  tracer.close();
  tracer.close();
  assert.equal(await pending, 0, "a poll pending at close resolves to 0");
  assert.equal(await tracer.poll(10, () => {}, () => {}), 0);
  assert.deepEqual(await names(), []);
  assert.throws(() => tracer.allowMountNamespace(1n), /closed/);
});

/**
 * Ids of the BPF programs this process holds (but those in `except`: another test's), and of
 * the links attaching them.
 */
async function ownProgramsAndLinks(
  except: number[],
): Promise<{ programs: number[]; linked: number[] }> {
  const programs = bpfProgramIds(Deno.pid).filter((id) => !except.includes(id));
  const links = JSON.parse(await run("bpftool", ["-j", "link", "show"])) as { prog_id: number }[];
  return { programs, linked: links.map((l) => l.prog_id).filter((id) => programs.includes(id)) };
}

kernelTest("open() with attachWhen loads at once and attaches once it settles", async () => {
  const earlier = bpfProgramIds(Deno.pid);
  const gate = Promise.withResolvers<void>();
  let settled = false;
  const opening = ProcessTracer.open({ ...base, attachWhen: gate.promise })
    .finally(() => settled = true);
  // Loaded (the programs exist) but attached to nothing while the gate is closed.
  const deadline = Date.now() + 10_000;
  while ((await ownProgramsAndLinks(earlier)).programs.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = await ownProgramsAndLinks(earlier);
  assert.equal(before.programs.length, 2, "crienrich_exec and crienrich_exit loaded");
  assert.deepEqual(before.linked, [], "no program attached before the gate opens");
  assert.equal(settled, false);
  gate.resolve();
  using tracer = await opening;
  const after = await ownProgramsAndLinks(earlier);
  assert.deepEqual(after.linked.sort(), after.programs, "every program attached");
  const out = await run("unshare", [...UNSHARE, "readlink /proc/$$/ns/mnt; /bin/true gated"]);
  const mntns = parseMntns(out.trim());
  const gated = (events: TraceEvent[]) =>
    execs(events, mntns).filter((e) => e.binary === "/bin/true" && e.args[1] === "gated");
  const got = await collect(tracer, 3000, (c) => gated(c.events).length > 0);
  assert.equal(gated(got.events).length, 1, "the exec after the attach is reported");
});

kernelTest(
  "open() with a rejected attachWhen rejects with its reason and keeps nothing",
  async () => {
    const earlier = bpfProgramIds(Deno.pid);
    const reason = new Error("runtime discovery failed");
    await assert.rejects(
      ProcessTracer.open({ ...base, attachWhen: Promise.reject(reason) }),
      (error) => error === reason,
    );
    assert.deepEqual(bpfProgramIds(Deno.pid), earlier, "no program left loaded");
  },
);

kernelTest("poll() rethrows an error thrown by the event handler", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceHost: true });
  await run("/bin/true", []);
  await assert.rejects(async () => {
    for (let i = 0; i < 30; i++) {
      await tracer.poll(100, () => {
        throw new TypeError("handler failed");
      }, () => {});
    }
  }, TypeError);
});

kernelTest("checkTracingPrerequisites() finds tracefs, BTF and libbpf", () => {
  const found = checkTracingPrerequisites();
  Deno.statSync(`${found.tracefsPath}/events/sched/sched_process_exec/id`);
  assert.match(found.libbpfVersion, /^1\.\d+$/);
  assert.equal(libbpfVersion(), found.libbpfVersion);
});

kernelTest("checkTracingPrerequisites() mounts tracefs when it is absent", async () => {
  const umount = await new Deno.Command("umount", { args: ["/sys/kernel/tracing"] }).output();
  assert.ok(umount.success, "unmount tracefs for the test");
  const found = checkTracingPrerequisites();
  assert.equal(found.mountedTracefs, true);
  assert.equal(found.tracefsPath, "/sys/kernel/tracing");
  Deno.statSync("/sys/kernel/tracing/events/sched/sched_process_exit/id");
});

Deno.test("ProcessTracer.open() rejects a buffer size that is not a power of two", async () => {
  await assert.rejects(ProcessTracer.open({ ...base, perCpuBufferPages: 3 }), RangeError);
});

Deno.test("openLibbpf() names the package when the library is missing", () => {
  assert.throws(() => openLibbpf("/nonexistent/libbpf.so.1"), (error: Error) => {
    assert.ok(error instanceof NotSupportedError);
    assert.match(error.message, /apt-get install libbpf1/);
    assert.match(error.message, /"\/nonexistent\/libbpf.so.1"/);
    return true;
  });
});

Deno.test("Libbpf.openObject() turns NULL+errno into a BpfError carrying libbpf's log", () => {
  assert.throws(() => openLibbpf().openObject(new Uint8Array(64), "garbage"), (error: Error) => {
    assert.ok(error instanceof BpfError);
    assert.equal(error.fn, "bpf_object__open_mem");
    assert.ok(error.errno > 0);
    assert.ok(error.log.length > 0, "libbpf's warning was captured, not printed");
    return true;
  });
});

kernelTest("a cgroup sample names the task's cgroup path before its unknown event", async () => {
  using tracer = await ProcessTracer.open(base);
  const mount = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" "))
    .find((f) => f[f.indexOf("-") + 1] === "cgroup2")![4]!;
  const leaf = crypto.randomUUID().replaceAll("-", "").repeat(2);
  const parent = `${mount}/crienrich-test-${leaf.slice(0, 8)}`;
  Deno.mkdirSync(`${parent}/${leaf}`, { recursive: true });
  try {
    const inode = BigInt(Deno.statSync(`${parent}/${leaf}`).ino!);
    // The shell moves itself into the cgroup, then execs in a private mount namespace.
    const out = await run("/bin/sh", [
      "-c",
      `echo $$ > ${parent}/${leaf}/cgroup.procs && exec unshare ${UNSHARE.join(" ")} ` +
      `'readlink /proc/$$/ns/mnt; /bin/echo in-cgroup'`,
    ]);
    const mntns = parseMntns(out.split("\n")[0]!);
    const samples: CgroupSample[] = [];
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !samples.some((s) => s.mntnsId === mntns)) {
      await tracer.poll(50, (e) => {
        if (e.type === "cgroup" && e.mntnsId === mntns) samples.push(e);
      }, () => {});
    }
    const sample = samples[0];
    assert.ok(sample, "a cgroup sample of the namespace");
    assert.deepEqual(sample.segments, [`crienrich-test-${leaf.slice(0, 8)}`, leaf]);
    assert.deepEqual(sample.ids, [BigInt(Deno.statSync(parent).ino!), inode]);
    assert.equal(sample.complete, true);
    assert.equal(sample.v1, false);
    assert.equal(sample.cgroupId, inode);
  } finally {
    Deno.removeSync(`${parent}/${leaf}`);
    Deno.removeSync(parent);
  }
});

kernelTest(
  "pidNamespaceInode reports pids as that PID namespace sees them, and only its tasks",
  async () => {
    // A PID namespace that lives while the test looks: its init waits for a line on stdin.
    const child = new Deno.Command("unshare", {
      args: [
        "--pid",
        "--fork",
        "--mount-proc",
        "/bin/sh",
        "-c",
        "readlink /proc/self/ns/pid; read a; /bin/echo inside-pidns; echo $$",
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const writer = child.stdin.getWriter();
    const link = (await lines.read()).value!;
    const inode = Number(/pid:\[(\d+)\]/.exec(link)![1]);
    using tracer = await ProcessTracer.open({ ...base, traceHost: true, pidNamespaceInode: inode });
    const marker = `outside-${crypto.randomUUID()}`;
    await run("/bin/echo", [marker]);
    await writer.write(new TextEncoder().encode("\n"));
    await writer.close();
    let text = "";
    for (let r = await lines.read(); !r.done; r = await lines.read()) text += r.value;
    await child.status;
    const got = await collect(tracer, 1500);
    const echo = got.events.find((e) => e.type === "exec" && e.args[1] === "inside-pidns");
    assert.ok(echo, "the exec inside the PID namespace");
    // The namespace's init is its shell, pid 1 there; /bin/echo is its child.
    assert.equal(echo.ppid, 1);
    assert.ok(echo.pid > 1 && echo.pid < 100, `a small pid inside the namespace: ${echo.pid}`);
    assert.match(text, /inside-pidns\n1\n/);
    assert.equal(
      got.events.some((e) => e.type === "exec" && e.args[1] === marker),
      false,
      "a host process outside the PID namespace is not traced",
    );
  },
);

kernelTest(
  "cgroupV1 names the v1 memory hierarchy's cgroup (nodes without a v2 tree)",
  async () => {
    const memory = "/sys/fs/cgroup/memory";
    if (!Deno.statSync(memory).isDirectory) throw new Error(`this test needs ${memory}`);
    using tracer = await ProcessTracer.open({ ...base, cgroupV1: true });
    const leaf = crypto.randomUUID().replaceAll("-", "").repeat(2);
    const parent = `${memory}/crienrich-v1-${leaf.slice(0, 8)}`;
    Deno.mkdirSync(`${parent}/${leaf}`, { recursive: true });
    try {
      const out = await run("/bin/sh", [
        "-c",
        `echo $$ > ${parent}/${leaf}/cgroup.procs && exec unshare ${UNSHARE.join(" ")} ` +
        `'readlink /proc/$$/ns/mnt; /bin/echo in-v1-cgroup'`,
      ]);
      const mntns = parseMntns(out.split("\n")[0]!);
      let sample: CgroupSample | undefined;
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && !sample) {
        await tracer.poll(50, (e) => {
          if (e.type === "cgroup" && e.mntnsId === mntns) sample ??= e;
        }, () => {});
      }
      assert.ok(sample, "a cgroup sample of the namespace");
      assert.deepEqual(sample.segments, [`crienrich-v1-${leaf.slice(0, 8)}`, leaf]);
      assert.equal(sample.v1, true);
      assert.equal(sample.complete, true);
    } finally {
      // The shell has exited; the kernel empties the cgroup before rmdir may succeed.
      for (let i = 0; i < 50; i++) {
        try {
          Deno.removeSync(`${parent}/${leaf}`);
          Deno.removeSync(parent);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  },
);
