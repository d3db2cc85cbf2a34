/**
 * Records raw perf samples of the TCP and open programs into tests/testdata/bpf/ (*.bin)
 * with the decoded event (*.json, bigints as strings): one loopback connection made with
 * busybox `nc` (connect, accept, close), a refused connect, and one open of /etc/hostname.
 * Used by bench/pipeline_bench.ts (and free for event_test.ts). Run as root:
 * `deno run -A tests/bpf/capture_net_open_samples.ts`, then review the JSON by hand before
 * commit: it must match the commands below, not merely the decoder.
 *
 * @module
 */

import { ProcessTracer } from "../../src/bpf/mod.ts";
import type { TraceEvent } from "../../src/bpf/mod.ts";
import { collect, parseMntns, run } from "./_kernel.ts";

const dir = new URL("../testdata/bpf/", import.meta.url);
const PORT = 18_391, CLOSED_PORT = 18_392;
const script = [
  "readlink /proc/self/ns/mnt",
  // -ll: keep listening; -e: each accepted connection runs /bin/true, which closes it.
  `busybox nc -ll -p ${PORT} -e /bin/true & L=$!`,
  "sleep 0.3",
  `busybox nc 127.0.0.1 ${PORT} </dev/null`,
  `busybox nc 127.0.0.1 ${CLOSED_PORT} </dev/null`,
  "busybox cat /etc/hostname >/dev/null",
  "sleep 0.2",
  "kill $L",
].join("; ");

using tracer = await ProcessTracer.open({
  traceExec: false,
  traceExit: false,
  traceConnect: true,
  traceAccept: true,
  traceClose: true,
  traceOpen: true,
  traceHost: false,
  sendUnknown: true,
});
const out = await run("unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script]);
const mntns = parseMntns(out);
const mine = (e: TraceEvent) => e.mntnsId === mntns;
const got = await collect(tracer, 3000, (c) => c.events.filter(mine).length >= 6);

const pick = (name: string, match: (e: TraceEvent) => boolean) => {
  const i = got.events.findIndex((e) => mine(e) && match(e));
  if (i < 0) throw new Error(`Cannot find the sample for "${name}"`);
  const json = JSON.stringify(got.events[i], (_k, v) => typeof v === "bigint" ? `${v}` : v, 2);
  Deno.writeFileSync(new URL(`${name}.bin`, dir), got.samples[i]!);
  Deno.writeTextFileSync(new URL(`${name}.json`, dir), `${json}\n`);
};
const dport = (e: TraceEvent) => "net" in e ? e.net.dport : -1;
const sport = (e: TraceEvent) => "net" in e ? e.net.sport : -1;
pick("connect_loopback", (e) => e.type === "connect" && dport(e) === PORT && e.error === 0);
pick("connect_refused", (e) => e.type === "connect" && dport(e) === CLOSED_PORT && e.error !== 0);
pick("accept_loopback", (e) => e.type === "accept" && sport(e) === PORT);
pick("close_loopback", (e) => e.type === "close" && (dport(e) === PORT || sport(e) === PORT));
pick("open_hostname", (e) => e.type === "open" && e.path === "/etc/hostname");
