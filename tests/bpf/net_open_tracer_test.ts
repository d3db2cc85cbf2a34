/**
 * Kernel tests of the TCP and open programs: real sockets and files in private mount
 * namespaces (`unshare -m`), each side of a loopback connection in its own namespace, so
 * that attribution from softirq context (where the current task is often the peer) shows.
 */
import assert from "node:assert/strict";
import {
  checkTracingPrerequisites,
  type OpenEvent,
  ProcessTracer,
  type TcpEvent,
} from "../../src/bpf/mod.ts";
import { NotSupportedError } from "../../src/errors.ts";
import { collect, IGNORE_KERNEL, parseMntns, requireKernel, run } from "./_kernel.ts";

const kernelTest = (name: string, fn: () => Promise<void> | void) =>
  Deno.test({ name, ignore: IGNORE_KERNEL, fn: () => (requireKernel(), fn()) });

const UNSHARE = ["-m", "--propagation", "private", "/bin/sh", "-c"];
const base = {
  traceExec: false,
  traceExit: false,
  traceHost: false,
  sendUnknown: true,
  selfPid: Deno.pid,
};

/** A free TCP port on 127.0.0.1 (bound then released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

kernelTest("open events carry path, flags and result; crienrich's own opens never", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceOpen: true, traceHost: true });
  const own = await Deno.makeTempFile({ prefix: "crienrich-own-open-" });
  const theirs = await Deno.makeTempFile({ prefix: "crienrich-their-open-" });
  try {
    await Deno.readTextFile(own);
    const out = await run("unshare", [
      ...UNSHARE,
      `echo $$ $(readlink /proc/$$/ns/mnt); /bin/busybox cat ${theirs}; ` +
      `/bin/busybox cat /no/such/crienrich-path 2>/dev/null; exit 0`,
    ]);
    const [, link] = out.trim().split(" ");
    const mntns = parseMntns(link!);
    const opens = (events: unknown[]) =>
      (events as OpenEvent[]).filter((e) => e.type === "open" && e.mntnsId === mntns);
    const got = await collect(
      tracer,
      4000,
      (c) => opens(c.events).some((e) => e.path === "/no/such/crienrich-path"),
    );
    await Deno.readTextFile(own);
    await collect(tracer, 300, () => false, got);
    const mine = opens(got.events);
    const ok = mine.find((e) => e.path === theirs);
    assert.ok(ok, `open of ${theirs}`);
    assert.ok(ok.result >= 0, "an fd");
    assert.equal(ok.flags & 3, 0, "O_RDONLY");
    assert.equal(ok.comm, "busybox", "comm of /bin/busybox cat");
    assert.equal(ok.mntnsUnknown, true);
    const missing = mine.find((e) => e.path === "/no/such/crienrich-path");
    assert.equal(missing?.result, -2, "ENOENT");
    assert.equal(mine.filter((e) => e.path === theirs).length, 1, "reported once");
    const self = got.events.filter((e) => e.pid === Deno.pid);
    assert.deepEqual(self.map((e) => e.type), [], "no event of crienrich's own process");
    assert.equal(
      got.events.some((e) => e.type === "open" && e.path === own),
      false,
      "crienrich's own open of its file",
    );
    assert.equal(got.lost, 0n);
  } finally {
    await Deno.remove(own);
    await Deno.remove(theirs);
  }
});

kernelTest("a loopback connection between two namespaces is each side's own", async () => {
  using tracer = await ProcessTracer.open({
    ...base,
    traceConnect: true,
    traceAccept: true,
    traceClose: true,
  });
  const port = freePort();
  // The server: a namespace of its own, one connection accepted, then closed.
  const server = new Deno.Command("unshare", {
    args: [
      ...UNSHARE,
      `readlink /proc/$$/ns/mnt; exec /bin/busybox nc -l -p ${port} -e /bin/true`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const serverMntns = parseMntns((await reader.read()).value ?? "");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const out = await run("unshare", [
    ...UNSHARE,
    `echo $$ $(readlink /proc/$$/ns/mnt); exec /bin/busybox nc 127.0.0.1 ${port} </dev/null`,
  ]);
  const [clientPidText, link] = out.trim().split(" ");
  const clientPid = Number(clientPidText);
  const clientMntns = parseMntns(link!);
  await server.status;
  reader.releaseLock();
  const tcp = (events: unknown[]) => (events as TcpEvent[]).filter((e) => e.net !== undefined);
  const got = await collect(
    tracer,
    4000,
    (c) => tcp(c.events).filter((e) => e.type === "close").length >= 2,
  );
  await collect(tracer, 300, () => false, got);
  const events = tcp(got.events).filter((e) => e.net.sport === port || e.net.dport === port);
  const kinds = events.map((e) => `${e.type}:${e.mntnsId === clientMntns ? "client" : "server"}`);
  assert.deepEqual(kinds.sort(), [
    "accept:server",
    "close:client",
    "close:server",
    "connect:client",
  ]);
  for (const e of events) {
    assert.ok(
      e.mntnsId === clientMntns || e.mntnsId === serverMntns,
      `${e.type} in namespace ${e.mntnsId}`,
    );
  }
  const connect = events.find((e) => e.type === "connect")!;
  assert.equal(connect.pid, clientPid);
  assert.equal(connect.comm, "busybox");
  assert.deepEqual([connect.net.daddr, connect.net.dport, connect.tcpState], [
    "127.0.0.1",
    port,
    1,
  ]);
  const accept = events.find((e) => e.type === "accept")!;
  assert.equal(accept.mntnsId, serverMntns);
  assert.equal(accept.net.sport, port);
  assert.equal(accept.net.dport, connect.net.sport, "the peer's port is the client's");
  const clientClose = events.find((e) => e.type === "close" && e.mntnsId === clientMntns)!;
  assert.equal(clientClose.pid, clientPid);
  assert.equal(clientClose.net.sport, connect.net.sport);
});

kernelTest("a refused connect is reported once, failed with ECONNREFUSED", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceConnect: true, traceClose: true });
  const port = freePort();
  const out = await run("unshare", [
    ...UNSHARE,
    `echo $$ $(readlink /proc/$$/ns/mnt); /bin/busybox nc 127.0.0.1 ${port} </dev/null 2>/dev/null; exit 0`,
  ]);
  const mntns = parseMntns(out.trim().split(" ")[1]!);
  const got = await collect(tracer, 3000, (c) => c.events.some((e) => e.mntnsId === mntns));
  await collect(tracer, 300, () => false, got);
  const mine = (got.events as TcpEvent[]).filter((e) => e.mntnsId === mntns);
  assert.equal(mine.length, 1, JSON.stringify(mine.map((e) => e.type)));
  assert.equal(mine[0]!.type, "connect");
  assert.equal(mine[0]!.tcpState, 7, "CLOSE");
  assert.equal(mine[0]!.error, 111, "ECONNREFUSED");
  assert.equal(mine[0]!.net.dport, port);
});

kernelTest("a namespace denied after connect(2) began gets no later TCP event", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceConnect: true, traceClose: true });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  // The connection stays open until the test closes both ends, after the deny.
  const child = new Deno.Command("unshare", {
    args: [...UNSHARE, `exec /bin/busybox nc 127.0.0.1 ${port}`],
    stdin: "piped",
    stdout: "null",
  }).spawn();
  const connected = (e: { type: string; pid: number }) =>
    e.type === "connect" && e.pid === child.pid;
  const got = await collect(tracer, 3000, (c) => c.events.some(connected));
  const connect = got.events.find(connected);
  assert.ok(connect, "connect of the client");
  tracer.denyMountNamespace(connect.mntnsSeq);
  await child.stdin.close();
  for (const conn of accepted) conn.close();
  await child.status;
  await collect(tracer, 500, () => false, got);
  const mine = got.events.filter((e) => e.mntnsSeq === connect.mntnsSeq);
  assert.deepEqual(mine.map((e) => e.type), ["connect"], "the close after the deny is dropped");
  listener.close();
  await accepting.catch(() => {});
});

kernelTest("a missing tracepoint names the event kinds that need it", () => {
  assert.throws(
    () =>
      checkTracingPrerequisites({
        tracepoints: [{ tracepoint: "sock/no_such_crienrich_tp", kinds: ["connect", "close"] }],
      }),
    (error: unknown) =>
      error instanceof NotSupportedError &&
      /^Cannot trace connect and close events: cannot find tracepoint "sock\/no_such_crienrich_tp"/
        .test(error.message),
  );
});

kernelTest("an open path of exactly 255 bytes is whole, one byte longer is cut", async () => {
  using tracer = await ProcessTracer.open({ ...base, traceOpen: true });
  // 255 bytes fill the 256-byte buffer with its NUL, as a longer path's first 255 do.
  const whole = `/tmp/${"w".repeat(250)}`, cut = `/tmp/${"c".repeat(251)}`;
  assert.deepEqual([whole.length, cut.length], [255, 256]);
  const out = await run("unshare", [
    ...UNSHARE,
    `readlink /proc/$$/ns/mnt; /bin/busybox cat ${whole} ${cut} /no/such/crienrich-end ` +
    `2>/dev/null; exit 0`,
  ]);
  const mntns = parseMntns(out.trim());
  const opens = (events: unknown[]) =>
    (events as OpenEvent[]).filter((e) => e.type === "open" && e.mntnsId === mntns);
  const got = await collect(
    tracer,
    4000,
    (c) => opens(c.events).some((e) => e.path === "/no/such/crienrich-end"),
  );
  const seen = opens(got.events).filter((e) => e.path.startsWith("/tmp/"))
    .map((e) => [e.path.length, e.pathTruncated]);
  assert.deepEqual(seen, [[255, false], [255, true]]);
});
