/**
 * `crienrich trace --events connect,accept,close,open` end to end: the real kernel, a real
 * private containerd, two pods on the node's network (client and server, namespace demo),
 * busybox `nc` and `cat` run in them with CRI ExecSync, and the same calls made on the host
 * at the same time as noise that must never be attributed to a pod.
 */
import assert from "node:assert/strict";
import { realTest, runCli, withLab } from "../harness/real.ts";
import { type TraceEvent, TraceProcess } from "../harness/trace_process.ts";
import type { Lab, LabPod } from "../../scripts/lab/lab.ts";
import { ExitCode } from "../../src/errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP port below the ephemeral range that nothing uses now, on IPv4 and IPv6. */
function freePort(): number {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    try {
      Deno.listen({ hostname: "0.0.0.0", port }).close();
      Deno.listen({ hostname: "::", port }).close();
      return port;
    } catch {
      // In use: another one.
    }
  }
}

/** Waits until something listens on TCP `port` of the host's network namespace. */
async function waitListening(port: number): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (let i = 0; i < 200; i++) {
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const rows = (await Deno.readTextFile(table)).split("\n").map((l) => l.trim().split(/\s+/));
      if (rows.some((r) => r[1]?.endsWith(hex) && r[3] === "0A")) return;
    }
    await sleep(50);
  }
  throw new Error(`nothing listens on port ${port}`);
}

/**
 * The host pid of the one process of container `containerId` whose argv ends with `tail`,
 * waited for (read from /proc, not from crienrich).
 */
async function pidInContainer(containerId: string, tail: string[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const found: number[] = [];
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
        argv.pop();
        if (argv.length <= tail.length || argv.slice(-tail.length).join(" ") !== tail.join(" ")) {
          continue;
        }
        if (!/\bnc$/.test(argv[0]!)) continue;
        if (!Deno.readTextFileSync(`/proc/${entry.name}/cgroup`).includes(containerId)) continue;
        found.push(Number(entry.name));
      } catch {
        // Gone meanwhile.
      }
    }
    if (found.length === 1) return found[0]!;
    assert.ok(found.length === 0, `several processes match ${tail}: ${found}`);
    await sleep(20);
  }
  throw new Error(`no process "${tail.join(" ")}" in container ${containerId}`);
}

/**
 * TCP connects (to a host listener, and refused ones to `refusedPort`) and opens
 * (`/etc/hostname`, a missing path) made on the host, from this process and from host
 * busybox processes, until stopped: none may be reported under a pod selection.
 */
function hostNoise(refusedPort: number): { stop(): Promise<number> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    try {
      for await (const conn of listener) conn.close();
    } catch { /* closed */ }
  })();
  let running = true, rounds = 0;
  const busybox = (...args: string[]) =>
    new Deno.Command("/bin/busybox", { args, stdout: "null", stderr: "null" }).output();
  const loop = (async () => {
    while (running) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      conn.close();
      await Deno.connect({ hostname: "127.0.0.1", port: refusedPort }).then(
        (c) => c.close(),
        () => {},
      );
      await Deno.readTextFile("/etc/hostname");
      await Deno.readTextFile("/no/such/path").catch(() => {});
      await Promise.all([
        busybox("nc", "127.0.0.1", String(refusedPort)),
        busybox("cat", "/etc/hostname"),
        busybox("cat", "/no/such/path"),
      ]);
      rounds++;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      listener.close();
      await accepting;
      return rounds;
    },
  };
}

/** Pods client (container app) and server (container srv) of namespace demo. */
async function clientAndServer(lab: Lab): Promise<
  { client: LabPod; app: string; server: LabPod; srv: string }
> {
  const client = await lab.runPod({ name: "client", namespace: "demo", cgroupParent: "kubelet" });
  const app = await lab.runContainer(client, "app");
  const server = await lab.runPod({ name: "server", namespace: "demo", cgroupParent: "kubelet" });
  const srv = await lab.runContainer(server, "srv");
  return { client, app, server, srv };
}

const where = (e: TraceEvent) =>
  `${e.type} ${e.pod?.name}/${e.container?.name} pid ${e.process.pid} ${e.process.comm} ${
    JSON.stringify(e.net ?? e.file)
  }`;
const dump = (events: TraceEvent[]) => events.map(where).join("\n");

/** Stops a running trace as Ctrl-C does, and checks it ended cleanly. */
async function stop(trace: TraceProcess) {
  trace.child.kill("SIGINT");
  const result = await trace.finish();
  assert.equal(result.code, ExitCode.Ok, result.stderr.join("\n"));
  return result;
}

realTest(
  "trace attributes each end of a TCP connection between two pods to its own pod, once",
  async (t) => {
    await withLab(async (lab) => {
      const { app, srv } = await clientAndServer(lab);
      const port = freePort(), refused = freePort();
      const kinds = ["--events", "connect,accept,close", "--duration", "120s"];
      const onClient = new TraceProcess(["--pod", "client", "-n", "demo", ...kinds], lab.socket);
      const onServer = new TraceProcess(["--pod", "server", "-n", "demo", ...kinds], lab.socket);
      const onBoth = new TraceProcess(["-n", "demo", ...kinds], lab.socket);
      for (const trace of [onClient, onServer, onBoth]) {
        await trace.waitFor(/^crienrich: tracing/);
      }

      const noise = hostNoise(refused);
      let clientPid: number, serverPid: number;
      try {
        // The server holds its end open for 4 s, the client for 2 s: both pids are read from
        // /proc meanwhile. Then the client's EOF ends the server's nc, whose close ends the
        // client's.
        const listening = lab.exec(srv, ["/bin/sh", "-c", `sleep 4 | /bin/nc -l -p ${port}`]);
        await waitListening(port);
        const connecting = lab.exec(app, ["/bin/sh", "-c", `sleep 2 | /bin/nc 127.0.0.1 ${port}`]);
        clientPid = await pidInContainer(app, ["127.0.0.1", String(port)]);
        serverPid = await pidInContainer(srv, ["-l", "-p", String(port)]);
        await Promise.all([listening, connecting]);
        // A refused connect in each pod, to the port the host's noise is refused on too.
        assert.notEqual(
          (await lab.exec(app, ["/bin/nc", "127.0.0.1", String(refused)])).exitCode,
          0,
        );
        assert.notEqual(
          (await lab.exec(srv, ["/bin/nc", "127.0.0.1", String(refused)])).exitCode,
          0,
        );
      } finally {
        assert.ok(await noise.stop() > 0, "the host noise ran");
      }
      await sleep(1000);
      const client = await stop(onClient), server = await stop(onServer), both = await stop(onBoth);

      const ours = (events: TraceEvent[], type: string, sport: number, dport: number) =>
        events.filter((e) => e.type === type && e.net?.sport === sport && e.net.dport === dport);
      const connects = client.events.filter((e) => e.type === "connect" && e.net?.dport === port);
      assert.equal(connects.length, 1, dump(client.events));
      const connect = connects[0]!;
      const clientPort = connect.net!.sport;

      await t.step("--pod client: the client's connect, established, by its nc", () => {
        assert.equal(connect.process.pid, clientPid, where(connect));
        assert.equal(connect.pod?.name, "client");
        assert.equal(connect.container?.id, app);
        assert.equal(connect.container?.name, "app");
        assert.deepEqual(
          { ...connect.net, duration_ns: 0 },
          {
            protocol: "tcp",
            family: "ipv4",
            saddr: "127.0.0.1",
            sport: clientPort,
            daddr: "127.0.0.1",
            dport: port,
            result: "established",
            state: "ESTABLISHED",
            error: null,
            duration_ns: 0,
          },
        );
        assert.ok(connect.net!.duration_ns > 0);
      });

      await t.step("--pod client: the client's close, once, after about 2 s", () => {
        const closes = ours(client.events, "close", clientPort, port);
        assert.equal(closes.length, 1, dump(client.events));
        const close = closes[0]!;
        assert.equal(close.process.pid, clientPid, where(close));
        assert.equal(close.pod?.name, "client");
        assert.equal(close.container?.id, app);
        assert.equal(close.net!.result, "closed");
        assert.equal(close.net!.daddr, "127.0.0.1");
        assert.ok(close.net!.duration_ns > 1e9, where(close));
        assert.ok(close.net!.duration_ns < 10e9, where(close));
      });

      await t.step("--pod client: one refused connect, failed with ECONNREFUSED", () => {
        const failed = client.events.filter((e) => e.net?.dport === refused);
        assert.equal(failed.length, 1, dump(client.events));
        assert.equal(failed[0]!.type, "connect");
        assert.equal(failed[0]!.pod?.name, "client");
        assert.equal(failed[0]!.container?.id, app);
        assert.equal(failed[0]!.net!.result, "failed");
        assert.equal(failed[0]!.net!.state, "CLOSE");
        assert.equal(failed[0]!.net!.error, "ECONNREFUSED");
      });

      await t.step("--pod client: nothing of the server's, nor of the host's", () => {
        for (const event of client.events) {
          assert.equal(event.pod?.name, "client", where(event));
          assert.equal(event.container?.id, app, where(event));
          assert.notEqual(event.process.pid, serverPid, where(event));
          assert.notEqual(event.type, "accept", where(event));
        }
        // The connect, its close and the refused connect: nothing else happened in the pod.
        assert.equal(client.events.length, 3, dump(client.events));
      });

      await t.step("--pod server: the server's accept and close, nothing of the client's", () => {
        const accepts = server.events.filter((e) => e.type === "accept");
        assert.equal(accepts.length, 1, dump(server.events));
        const accept = accepts[0]!;
        assert.equal(accept.process.pid, serverPid, where(accept));
        assert.equal(accept.pod?.name, "server");
        assert.equal(accept.container?.id, srv);
        assert.equal(accept.net!.sport, port);
        assert.equal(accept.net!.dport, clientPort, "the peer's port is the client's");
        assert.match(accept.net!.daddr, /^(::ffff:)?127\.0\.0\.1$/);
        assert.equal(accept.net!.result, "established");
        const closes = ours(server.events, "close", port, clientPort);
        assert.equal(closes.length, 1, dump(server.events));
        assert.equal(closes[0]!.process.pid, serverPid);
        assert.equal(closes[0]!.pod?.name, "server");
        for (const event of server.events) {
          assert.equal(event.pod?.name, "server", where(event));
          assert.notEqual(event.process.pid, clientPid, where(event));
          assert.notEqual(event.net?.dport, port, where(event));
        }
        // Its accept, its close, and its own refused connect.
        assert.equal(server.events.length, 3, dump(server.events));
        const failed = server.events.find((e) => e.net?.dport === refused);
        assert.equal(failed?.net?.error, "ECONNREFUSED");
      });

      await t.step("both pods selected: each end once, under its own pod", () => {
        const conn = (e: TraceEvent) =>
          (e.net?.sport === clientPort && e.net.dport === port) ||
          (e.net?.sport === port && e.net.dport === clientPort);
        const seen = both.events.filter(conn).map((e) =>
          `${e.type} ${e.pod?.name} ${e.process.pid}`
        )
          .sort();
        assert.deepEqual(seen, [
          `accept server ${serverPid}`,
          `close client ${clientPid}`,
          `close server ${serverPid}`,
          `connect client ${clientPid}`,
        ], dump(both.events));
        const refusals = both.events.filter((e) => e.net?.dport === refused)
          .map((e) => `${e.type} ${e.pod?.name} ${e.net?.error}`).sort();
        assert.deepEqual(refusals, [
          "connect client ECONNREFUSED",
          "connect server ECONNREFUSED",
        ]);
        assert.equal(both.events.length, 6, dump(both.events));
      });
    });
  },
);

realTest("trace reports the opens of the selected pod, with fd or errno, once each", async () => {
  await withLab(async (lab) => {
    const { app, srv } = await clientAndServer(lab);
    const trace = new TraceProcess(
      ["--pod", "client", "-n", "demo", "--events", "open", "--duration", "120s"],
      lab.socket,
    );
    await trace.waitFor(/^crienrich: tracing/);
    const noise = hostNoise(freePort());
    try {
      for (const container of [srv, app, srv]) {
        const read = await lab.exec(container, ["/bin/cat", "/etc/hostname"]);
        assert.equal(read.exitCode, 0, read.stderr);
        assert.notEqual((await lab.exec(container, ["/bin/cat", "/no/such/path"])).exitCode, 0);
      }
    } finally {
      assert.ok(await noise.stop() > 0, "the host noise ran");
    }
    await sleep(1000);
    const { events } = await stop(trace);

    const opens = (path: string) => events.filter((e) => e.file?.path === path);
    const [hostname, ...more] = opens("/etc/hostname");
    assert.ok(hostname, dump(events));
    assert.equal(more.length, 0, dump(events));
    assert.equal(hostname.type, "open");
    assert.equal(hostname.process.comm, "cat");
    assert.equal(hostname.pod?.name, "client");
    assert.equal(hostname.container?.id, app);
    assert.ok(hostname.file!.fd !== null && hostname.file!.fd >= 0, where(hostname));
    assert.equal(hostname.file!.error, null);
    assert.equal(hostname.file!.flags[0], "O_RDONLY");
    assert.equal(hostname.file!.syscall, "openat");
    assert.equal(hostname.file!.path_truncated, false);

    const [missing, ...again] = opens("/no/such/path");
    assert.ok(missing, dump(events));
    assert.equal(again.length, 0, dump(events));
    assert.equal(missing.process.comm, "cat");
    assert.equal(missing.pod?.name, "client");
    assert.equal(missing.file!.fd, null);
    assert.equal(missing.file!.error, "ENOENT");

    for (const event of events) {
      assert.equal(event.type, "open");
      assert.equal(event.pod?.name, "client", where(event));
    }
  });
});

/** True when the trace is still running `ms` from now. */
async function stillRunning(trace: TraceProcess, ms: number): Promise<boolean> {
  return await Promise.race([trace.child.status.then(() => false), sleep(ms).then(() => true)]);
}

realTest("trace --until-connect and --until-open end on the pod's own event only", async (t) => {
  await withLab(async (lab) => {
    const { app, srv } = await clientAndServer(lab);

    await t.step("--until-connect: exit 0 on the client's established connect", async () => {
      const port = freePort();
      const trace = new TraceProcess(
        [
          "--pod",
          "client",
          "--events",
          "connect",
          "--until-connect",
          `127.0.0.1:${port}`,
          "--duration",
          "120s",
        ],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      // Refused in the pod: a connect to the address, not an established one.
      assert.notEqual((await lab.exec(app, ["/bin/nc", "127.0.0.1", String(port)])).exitCode, 0);
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      try {
        // Established, but from the host and from the other pod.
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        (await listener.accept()).close();
        const other = lab.exec(srv, ["/bin/nc", "127.0.0.1", String(port)]);
        (await listener.accept()).close();
        await other;
        assert.ok(await stillRunning(trace, 1500), trace.stderrLines.join("\n"));
        const mine = lab.exec(app, ["/bin/nc", "127.0.0.1", String(port)]);
        (await listener.accept()).close();
        await mine;
      } finally {
        listener.close();
      }
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.Ok, stderr.join("\n"));
      assert.equal(events.length, 2, dump(events));
      assert.equal(events[0]!.net?.result, "failed");
      const last = events[1]!;
      assert.equal(last.type, "connect");
      assert.equal(last.pod?.name, "client");
      assert.equal(last.net?.result, "established");
      assert.equal(last.net?.dport, port);
    });

    await t.step("--until-connect A:P matches a dual-stack socket's connect to A", async () => {
      const port = freePort();
      const trace = new TraceProcess(
        [
          "--pod",
          "client",
          "--events",
          "connect",
          "--until-connect",
          `127.0.0.1:${port}`,
          "--duration",
          "20s",
        ],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      try {
        // An AF_INET6 socket connecting to an IPv4 address (Java's default): a mapped one.
        const mine = lab.exec(app, ["/bin/nc", "::ffff:127.0.0.1", String(port)]);
        (await listener.accept()).close();
        await mine;
      } finally {
        listener.close();
      }
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.Ok, stderr.join("\n") + dump(events));
      assert.equal(events.length, 1, dump(events));
      assert.equal(events[0]!.net?.family, "ipv6");
      assert.equal(events[0]!.net?.daddr, "::ffff:127.0.0.1");
    });

    await t.step("--until-connect: exit 7 when --duration ends first", async () => {
      const trace = new TraceProcess(
        [
          "--pod",
          "client",
          "--events",
          "connect",
          "--until-connect",
          "127.0.0.1:9",
          "--duration",
          "2s",
        ],
        lab.socket,
      );
      const { code, stderr } = await trace.finish();
      assert.equal(code, ExitCode.WaitTimedOut, stderr.join("\n"));
      assert.equal(
        stderr.at(-1),
        'crienrich: No connection established to 127.0.0.1:9 in pod "client" before the trace ended',
      );
    });

    await t.step("--until-open: exit 0 on the pod's successful open only", async () => {
      const trace = new TraceProcess(
        ["--pod", "client", "--events", "open", "--until-open", "/etc/host*", "--duration", "120s"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      // Failed in the pod, and successful on the host and in the other pod: not awaited.
      assert.notEqual((await lab.exec(app, ["/bin/cat", "/etc/hostz"])).exitCode, 0);
      await Deno.readTextFile("/etc/hostname");
      assert.ok(
        (await new Deno.Command("/bin/busybox", { args: ["cat", "/etc/hostname"] }).output())
          .success,
      );
      assert.equal((await lab.exec(srv, ["/bin/cat", "/etc/hostname"])).exitCode, 0);
      assert.ok(await stillRunning(trace, 1500), trace.stderrLines.join("\n"));
      assert.equal((await lab.exec(app, ["/bin/cat", "/etc/hostname"])).exitCode, 0);
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.Ok, stderr.join("\n"));
      const last = events.at(-1)!;
      assert.equal(last.file?.path, "/etc/hostname", dump(events));
      assert.equal(last.pod?.name, "client");
      assert.equal(last.process.comm, "cat");
      assert.ok(events.some((e) => e.file?.path === "/etc/hostz" && e.file.error === "ENOENT"));
      for (const event of events) assert.equal(event.pod?.name, "client", where(event));
    });

    await t.step(
      "--events open: runc's setup opens at an exec neither print nor pass the gate",
      async () => {
        // runc:[2:INIT] opens /etc/group in the container before it execs the command; an
        // exec of /bin/true never does. Without exec in --events crienrich still tells it.
        const trace = new TraceProcess(
          ["--pod", "client", "--events", "open", "--until-open", "/etc/group", "--duration", "6s"],
          lab.socket,
        );
        await trace.waitFor(/^crienrich: tracing/);
        assert.equal((await lab.exec(app, ["/bin/true"])).exitCode, 0);
        const { code, events, stderr } = await trace.finish();
        assert.equal(code, ExitCode.WaitTimedOut, stderr.join("\n") + dump(events));
        for (const event of events) {
          assert.doesNotMatch(event.process.comm, /^runc:/, where(event));
          assert.equal(event.type, "open", where(event));
        }
        assert.match(stderr.join("\n"), /\d+ runtime helper events? hidden/);
      },
    );
  });
});

Deno.test("trace's new flags reject bad input: exit 2, one line on stderr", async () => {
  const cases = [
    ["--pod", "a", "--events", "connect", "--until-connect", "foo"],
    ["--pod", "a", "--events", "connect", "--until-connect", "127.0.0.1:0"],
    ["--pod", "a", "--events", "connect", "--until-connect", "256.0.0.1:80"],
    ["--pod", "a", "--events", "connect", "--until-connect", "[fe80::zz]:80"],
    ["--pod", "a", "--until-connect", "127.0.0.1:80"],
    ["--pod", "a", "--events", "exec,exit", "--until-connect", "127.0.0.1:80"],
    ["--pod", "a", "--events", "connect", "--until-open", "/etc/*"],
    ["--pod", "a", "--events", "open", "--until-open", ""],
    ["--pod", "a", "--events", "bogus"],
    ["--pod", "a", "--events", "connect,"],
    ["--pod", "a", "--events", ""],
  ];
  for (const args of cases) {
    const { code, stdout, stderr } = await runCli(["trace", ...args]);
    assert.equal(code, ExitCode.Usage, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, /^crienrich: [^\n]+\n$/, args.join(" "));
    assert.equal(stdout, "");
  }
});

/**
 * Connects to `[::1]:port` and closes with SO_LINGER 0: the kernel resets the connection
 * (Deno's sockets cannot set SO_LINGER, libc's can).
 */
function connectAndReset(port: number): void {
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const AF_INET6 = 10, SOCK_STREAM = 1, SOL_SOCKET = 1, SO_LINGER = 13;
  const fd = libc.symbols.socket(AF_INET6, SOCK_STREAM, 0);
  try {
    assert.ok(fd >= 0, "socket()");
    const address = new Uint8Array(28); // struct sockaddr_in6, ::1
    const view = new DataView(address.buffer);
    view.setUint16(0, AF_INET6, true);
    view.setUint16(2, port, false);
    address[23] = 1;
    assert.equal(libc.symbols.connect(fd, address, address.length), 0, "connect()");
    const linger = new Int32Array([1, 0]); // struct linger: on, 0 s
    assert.equal(
      libc.symbols.setsockopt(fd, SOL_SOCKET, SO_LINGER, new Uint8Array(linger.buffer), 8),
      0,
    );
  } finally {
    if (fd >= 0) libc.symbols.close(fd);
    libc.close();
  }
}

realTest(
  "trace never reports a host socket as a pod's when it reuses a pod's closed socket's address",
  async () => {
    await withLab(async (lab) => {
      const { srv } = await clientAndServer(lab);
      const trace = new TraceProcess(
        ["--pod", "server", "--events", "connect,accept,close", "--duration", "120s"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing/);
      // The pod's nc listens, stopped before accept(2); the host connects and resets; nc
      // accepts a connection already CLOSE, which no state change will end any more.
      const port = freePort();
      const listening = lab.exec(srv, ["/bin/nc", "-l", "-p", String(port)]);
      await waitListening(port);
      const pid = await pidInContainer(srv, ["-l", "-p", String(port)]);
      Deno.kill(pid, "SIGSTOP");
      try {
        connectAndReset(port);
        await sleep(200);
      } finally {
        Deno.kill(pid, "SIGCONT");
      }
      await listening;
      // The kernel hands freed sockets' memory to the next ones: hundreds of host
      // connections at once, over IPv6 like the pod's dual-stack listener's.
      const listener = Deno.listen({ hostname: "::1", port: 0 });
      for (let round = 0; round < 4; round++) {
        const accepted: Deno.Conn[] = [];
        const accepting = (async () => {
          for (let i = 0; i < 300; i++) accepted.push(await listener.accept());
        })();
        const conns = await Promise.all(
          Array.from(
            { length: 300 },
            () => Deno.connect({ hostname: "::1", port: listener.addr.port }),
          ),
        );
        await accepting;
        for (const conn of [...conns, ...accepted]) conn.close();
      }
      listener.close();
      await sleep(1000);
      const { events } = await stop(trace);
      assert.equal(events.length, 1, dump(events));
      assert.equal(events[0]!.type, "accept");
      assert.equal(events[0]!.process.pid, pid);
      assert.equal(events[0]!.net?.state, "CLOSE");
    });
  },
);

/** The host pid of a running container's init, from the runtime's verbose status. */
async function initPid(lab: Lab, containerId: string): Promise<number> {
  const status = await lab.client.call<{ info: Record<string, string> }>(
    "RuntimeService",
    "ContainerStatus",
    { containerId, verbose: true },
  );
  return JSON.parse(status.info["info"]!).pid;
}

realTest(
  "a close after its pod's container ended is never the pod that took the namespace's inode",
  async (t) => {
    await withLab(async (lab) => {
      // A host listener that accepts and does not read: the client's data fills its window,
      // so the client's FIN waits behind it (FIN_WAIT1) after the client is killed, until
      // the host reads. The close comes seconds after pod a's container ended.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const accepted = listener.accept();
      // Only close events: pod a's namespace is first resolved at its close.
      const kinds = ["--events", "close", "--duration", "120s"];
      const onA = new TraceProcess(["--pod", "a", "-n", "demo", ...kinds], lab.socket);
      const onB = new TraceProcess(["--pod", "b", "-n", "demo", ...kinds], lab.socket);
      const onAll = new TraceProcess(["--all", ...kinds], lab.socket);
      for (const trace of [onA, onB, onAll]) await trace.waitFor(/^crienrich: (tracing|waiting)/);

      const a = await lab.runPod({ name: "a", namespace: "demo", cgroupParent: "kubelet" });
      const app = await lab.runContainer(a, "app", [
        "/bin/sh",
        "-c",
        `dd if=/dev/zero bs=65536 count=400 | /bin/nc 127.0.0.1 ${port}`,
      ]);
      const conn = await accepted;
      // Pod b's sandbox first, so that the inode number pod a's container frees (the kernel
      // hands out the lowest free one) goes to a container of pod b.
      const b = await lab.runPod({ name: "b", namespace: "demo", cgroupParent: "kubelet" });
      await sleep(1000);
      const mntns = async (id: string) =>
        Deno.readLinkSync(`/proc/${await initPid(lab, id)}/ns/mnt`);
      const nsA = await mntns(app);
      await lab.client.call("RuntimeService", "StopContainer", { containerId: app, timeout: 0 });
      await sleep(500);
      const reused: string[] = [];
      for (let i = 0; i < 3 && !reused.includes(nsA); i++) {
        reused.push(await mntns(await lab.runContainer(b, `app${i}`)));
      }
      assert.ok(reused.includes(nsA), `a container of pod b got ${nsA} (the case): ${reused}`);
      await sleep(1000);
      // Drain what pod a's nc sent, then close: its socket reaches CLOSE now.
      const buffer = new Uint8Array(1 << 20);
      while (await Promise.race([conn.read(buffer), sleep(1000).then(() => null)]) !== null);
      conn.close();
      listener.close();
      await sleep(1500);

      const closes = (events: TraceEvent[]) =>
        events.filter((e) => e.type === "close" && e.net?.dport === port);
      const all = await stop(onAll);
      await t.step("--all: pod a's close, as pod a's", () => {
        assert.equal(closes(all.events).length, 1, dump(all.events));
        assert.equal(closes(all.events)[0]!.pod?.name, "a", dump(all.events));
        assert.equal(closes(all.events)[0]!.container?.id, app);
      });
      await t.step("--pod a: its close", async () => {
        const result = await stop(onA);
        assert.equal(closes(result.events).length, 1, dump(result.events));
        assert.equal(closes(result.events)[0]!.container?.id, app);
      });
      await t.step("--pod b: nothing, and pod b is said to have run (exit 0, not 5)", async () => {
        const result = await stop(onB);
        assert.deepEqual(result.events.map(where), []);
      });
    });
  },
);
