/**
 * Hostile cases for `trace --events connect,accept,close,open` and their CI gates, on the
 * real kernel and a real private containerd: a path the kernel cuts at 255 bytes must not
 * satisfy `--until-open`, a self-connect (no listener) must be reported and must not satisfy
 * `--until-connect`, and sockets passed between pods, or connected by threads, are each
 * reported under the pod whose process made the call. The pods run a small static helper
 * (tests/testdata/kinds_helper.c, built here with clang), since busybox has no threads and no
 * fd passing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realTest, withLab } from "../harness/real.ts";
import { type TraceEvent, TraceProcess } from "../harness/trace_process.ts";
import { initPid } from "../harness/pods.ts";
import type { Lab, LabPod } from "../../scripts/lab/lab.ts";
import { ExitCode } from "../../src/errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const where = (e: TraceEvent) =>
  `${e.type} ${e.pod?.name}/${e.container?.name} pid ${e.process.pid} ${e.process.comm} ${
    JSON.stringify(e.net ?? e.file)
  }`;
const dump = (events: TraceEvent[]) => events.map(where).join("\n");

/** Builds the static helper once; returns its path on the host. */
let built: Promise<string> | undefined;
function buildHelper(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "crienrich-kh-" });
    const out = join(dir, "kh");
    const source = new URL("../testdata/kinds_helper.c", import.meta.url).pathname;
    const cc = await new Deno.Command("clang", {
      args: ["-O1", "-static", "-pthread", "-w", "-o", out, source],
      stderr: "piped",
    }).output();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    return out;
  })();
  return built;
}

/** Pod `name` of namespace demo with one sleeping container holding the helper at /tmp/kh. */
async function podWithHelper(lab: Lab, name: string): Promise<{ pod: LabPod; id: string }> {
  const pod = await lab.runPod({ name, namespace: "demo", cgroupParent: "kubelet" });
  const id = await lab.runContainer(pod, "app");
  const target = `/proc/${await initPid(lab, id)}/root/tmp/kh`;
  await Deno.copyFile(await buildHelper(), target);
  await Deno.chmod(target, 0o755);
  return { pod, id };
}

/**
 * The host pid of the one process of container `containerId` whose argv is exactly `argv`,
 * waited for (read from /proc, not from crienrich).
 */
async function hostPid(containerId: string, argv: string[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
        if (cmdline !== argv.join("\0") + "\0") continue;
        if (!Deno.readTextFileSync(`/proc/${entry.name}/cgroup`).includes(containerId)) continue;
        return Number(entry.name);
      } catch {
        // Gone meanwhile.
      }
    }
    await sleep(10);
  }
  throw new Error(`no process "${argv.join(" ")}" in container ${containerId}`);
}

/** Runs the helper in a container; `after` delays it so that its host pid can be read. */
async function helper(
  lab: Lab,
  id: string,
  args: string[],
  after = 0,
): Promise<{ pid: number; out: string }> {
  const argv = ["/tmp/kh", ...(after ? ["after", String(after)] : []), ...args];
  const running = lab.exec(id, argv);
  const pid = after ? await hostPid(id, argv) : 0;
  const result = await running;
  assert.equal(result.exitCode, 0, `${argv.join(" ")}: ${result.stdout}${result.stderr}`);
  return { pid, out: result.stdout };
}

/** A TCP port in the ephemeral range (a self-connect's), free now. */
function freeEphemeralPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

realTest("--until-open never passes on a path the kernel cut at 255 bytes", async () => {
  await withLab(async (lab) => {
    const { id } = await podWithHelper(lab, "client");
    const long = "d".repeat(250);
    const made = await lab.exec(id, [
      "/bin/sh",
      "-c",
      `mkdir -p /tmp/a/${long} && touch /tmp/a/ok /tmp/a/${long}/f`,
    ]);
    assert.equal(made.exitCode, 0, made.stderr);
    const trace = new TraceProcess(
      ["--pod", "client", "--events", "open", "--until-open", "/tmp/a/*", "--duration", "60s"],
      lab.socket,
    );
    await trace.waitFor(/^crienrich: tracing/);
    // "/tmp/a/<250 d>/f" is 259 bytes: the event holds "/tmp/a/<248 d>", which the glob
    // matches, but the file opened is not one of /tmp/a/*.
    const cut = await helper(lab, id, ["openhex", hex(`/tmp/a/${long}/f`)], 300);
    assert.match(cut.out, /^open \d+ 0$/m, "the long open succeeded");
    await sleep(1500);
    assert.ok(
      await Promise.race([trace.child.status.then(() => false), sleep(500).then(() => true)]),
      `the cut path ended the trace: ${trace.stderrLines.join("\n")}`,
    );
    const whole = await helper(lab, id, ["openhex", hex("/tmp/a/ok")], 300);
    const { code, events, stderr } = await trace.finish();
    assert.equal(code, ExitCode.Ok, stderr.join("\n"));
    const long255 = events.find((e) => e.file?.path_truncated);
    assert.ok(long255, dump(events));
    assert.equal(long255.file!.path, `/tmp/a/${long}`.slice(0, 255));
    assert.equal(long255.process.pid, cut.pid, where(long255));
    assert.equal(long255.pod?.name, "client");
    assert.ok(long255.file!.fd !== null, "printed as the successful open it was");
    const last = events.at(-1)!;
    assert.equal(last.file?.path, "/tmp/a/ok", dump(events));
    assert.equal(last.process.pid, whole.pid);
    assert.equal(last.pod?.name, "client");
  });
});

realTest(
  "a self-connect (nobody listens) is reported once established, and never passes --until-connect",
  async () => {
    await withLab(async (lab) => {
      const { id } = await podWithHelper(lab, "client");
      const port = freeEphemeralPort();
      const trace = new TraceProcess(
        [
          "--pod",
          "client",
          "--events",
          "connect,close",
          "--until-connect",
          `127.0.0.1:${port}`,
          "--duration",
          "8s",
        ],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      // Bound to 127.0.0.1:PORT and connected to it: TCP's simultaneous open, established.
      const self = await helper(lab, id, ["selfconnect", String(port)], 300);
      assert.match(self.out, new RegExp(`^connected sport ${port}$`, "m"));
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.WaitTimedOut, stderr.join("\n") + dump(events));
      assert.equal(
        stderr.at(-1),
        `crienrich: No connection established to 127.0.0.1:${port} in pod "client" before the trace ended`,
      );
      const connects = events.filter((e) => e.type === "connect");
      assert.equal(connects.length, 1, dump(events));
      const connect = connects[0]!;
      assert.equal(connect.process.pid, self.pid, where(connect));
      assert.equal(connect.pod?.name, "client");
      assert.equal(connect.container?.id, id);
      assert.deepEqual(
        [connect.net?.saddr, connect.net?.sport, connect.net?.daddr, connect.net?.dport],
        ["127.0.0.1", port, "127.0.0.1", port],
      );
      assert.equal(connect.net?.result, "established");
      const closes = events.filter((e) => e.type === "close");
      assert.equal(closes.length, 1, dump(events));
      assert.equal(closes[0]!.process.pid, self.pid);
      assert.equal(closes[0]!.net?.sport, port);
    });
  },
);

realTest(
  "sockets passed between pods and connected by threads: each call under its caller's pod",
  async (t) => {
    await withLab(async (lab) => {
      const a = await podWithHelper(lab, "a");
      const b = await podWithHelper(lab, "b");
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const accepting = (async () => {
        try {
          for await (const conn of listener) conn.close();
        } catch { /* closed */ }
      })();
      const kinds = ["--events", "connect,accept,close", "--duration", "120s"];
      const onA = new TraceProcess(["--pod", "a", "-n", "demo", ...kinds], lab.socket);
      const onB = new TraceProcess(["--pod", "b", "-n", "demo", ...kinds], lab.socket);
      for (const trace of [onA, onB]) await trace.waitFor(/^crienrich: tracing/);

      // Pods share the node's network: an abstract unix socket carries the fd (SCM_RIGHTS).
      const pass = async (kind: string, action: string, to: number) => {
        const receiving = helper(lab, b.id, [
          "recvfd",
          `kh-${kind}`,
          action,
          "127.0.0.1",
          String(to),
        ], 300);
        await sleep(600);
        const sending = helper(
          lab,
          a.id,
          ["sendfd", `kh-${kind}`, kind, "127.0.0.1", String(to)],
          300,
        );
        return { sender: await sending, receiver: await receiving };
      };
      // Connected in a, passed to b, closed there: a's connect and close (a owns it).
      const connected = await pass("connected", "close", port);
      // Made in a, passed unconnected, connected by b: b's connect and close.
      const fresh = await pass("fresh", "connect", port);
      // Listening in a, passed to b, which accepts the host's connection: b's accept.
      const lport = freeEphemeralPort();
      const receiving = helper(
        lab,
        b.id,
        ["recvfd", "kh-l", "accept", "127.0.0.1", String(lport)],
        300,
      );
      await sleep(600);
      const sending = helper(
        lab,
        a.id,
        ["sendfd", "kh-l", "listener", "127.0.0.1", String(lport)],
        300,
      );
      let conn: Deno.Conn | undefined;
      for (let i = 0; i < 100 && !conn; i++) {
        conn = await Deno.connect({ hostname: "127.0.0.1", port: lport }).catch(() => undefined);
        if (!conn) await sleep(50);
      }
      assert.ok(conn, "the passed listener listens");
      const hostPort = (conn.localAddr as Deno.NetAddr).port;
      const accepted = { sender: await sending, receiver: await receiving };
      conn.close();
      // Six threads of one process in a, each connecting.
      const threads = await helper(lab, a.id, ["threads", "127.0.0.1", String(port), "6"], 300);
      await sleep(1500);
      listener.close();
      await accepting;
      onA.child.kill("SIGINT");
      onB.child.kill("SIGINT");
      const inA = await onA.finish(), inB = await onB.finish();
      assert.equal(inA.code, ExitCode.Ok, inA.stderr.join("\n"));
      assert.equal(inB.code, ExitCode.Ok, inB.stderr.join("\n"));
      const sportOf = (out: string) => Number(/^sport (\d+)$/m.exec(out)![1]);
      const lines = (events: TraceEvent[]) =>
        events.map((e) => `${e.type} ${e.pod?.name} ${e.process.pid} ${e.net?.sport}`).sort();

      await t.step("pod a: the passed connected socket's connect and close, the threads'", () => {
        const threadPorts = [...threads.out.matchAll(/^tid \d+ sport (\d+)$/gm)].map((m) =>
          Number(m[1])
        );
        assert.equal(threadPorts.length, 6, threads.out);
        const passed = sportOf(connected.sender.out);
        assert.deepEqual(
          lines(inA.events),
          [
            `close a ${connected.sender.pid} ${passed}`,
            `connect a ${connected.sender.pid} ${passed}`,
            ...threadPorts.flatMap((p) => [
              `close a ${threads.pid} ${p}`,
              `connect a ${threads.pid} ${p}`,
            ]),
          ].sort(),
          dump(inA.events),
        );
      });
      await t.step("pod b: the connect it made on a's socket, the accept on a's listener", () => {
        const connectedByB = sportOf(fresh.receiver.out);
        assert.match(accepted.receiver.out, new RegExp(`^accepted sport ${lport}$`, "m"));
        assert.deepEqual(
          lines(inB.events),
          [
            `accept b ${accepted.receiver.pid} ${lport}`,
            `close b ${accepted.receiver.pid} ${lport}`,
            `close b ${fresh.receiver.pid} ${connectedByB}`,
            `connect b ${fresh.receiver.pid} ${connectedByB}`,
          ].sort(),
          dump(inB.events),
        );
        const accept = inB.events.find((e) => e.type === "accept")!;
        assert.equal(accept.net?.dport, hostPort, "the host's end");
      });
    });
  },
);

/** A string's UTF-8 bytes in hex (the helper's openhex takes any bytes). */
function hex(text: string): string {
  return [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
