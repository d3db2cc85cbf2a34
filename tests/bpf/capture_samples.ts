/**
 * Records raw perf samples from the running tracer into tests/testdata/bpf/ (*.bin) with
 * the decoded event (*.json, bigints as strings), for event_test.ts. Run as root:
 * `deno run -A tests/bpf/capture_samples.ts`, then review the JSON by hand before commit:
 * it must match the commands below, not merely the decoder.
 *
 * @module
 */

import { ProcessTracer } from "../../src/bpf/mod.ts";
import { collect, parseMntns, run } from "./_kernel.ts";
import { EVENT_FIELDS, EVENT_SIZE, EXEC_HEAD_SIZE } from "../../src/bpf/event_layout.gen.ts";

const argsSizeOf = (raw: Uint8Array) =>
  new DataView(raw.buffer, raw.byteOffset).getUint32(EVENT_FIELDS.args_size.offset, true);

const dir = new URL("../testdata/bpf/", import.meta.url);
const longArg = "x".repeat(1100);
const script = [
  "readlink /proc/self/ns/mnt",
  "/bin/echo hello-crienrich 'two words' é",
  `/bin/true ${longArg} tail`,
  "/bin/sh -c 'kill -9 $$'",
  "exit 3",
].join("; ");

using tracer = await ProcessTracer.open({
  traceExec: true,
  traceExit: true,
  traceHost: false,
  sendUnknown: true,
});
const out = await run("unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script]);
const mntns = parseMntns(out);
const got = await collect(
  tracer,
  3000,
  (c) => c.events.filter((e) => e.mntnsId === mntns && e.type === "exit").length >= 5,
);

const pick = (name: string, match: (i: number) => boolean) => {
  const i = got.events.findIndex((_, i) => got.events[i]!.mntnsId === mntns && match(i));
  if (i < 0) throw new Error(`Cannot find the sample for "${name}"`);
  const json = JSON.stringify(got.events[i], (_k, v) => typeof v === "bigint" ? `${v}` : v, 2);
  Deno.writeFileSync(new URL(`${name}.bin`, dir), got.samples[i]!);
  Deno.writeTextFileSync(new URL(`${name}.json`, dir), `${json}\n`);
};
const ev = (i: number) => got.events[i]!;
pick("exec_echo_trimmed", (i) => ev(i).type === "exec" && ev(i).comm === "echo");
// The same exec as a whole-struct sample (argv area zero-filled past args_size), the form a
// reader must also accept: samples are bounded by their fields, not by their length.
const trimmed = Deno.readFileSync(new URL("exec_echo_trimmed.bin", dir));
const whole = new Uint8Array(Math.max(EVENT_SIZE, trimmed.length));
whole.set(trimmed.subarray(0, Math.min(trimmed.length, EXEC_HEAD_SIZE + argsSizeOf(trimmed))));
Deno.writeFileSync(new URL("exec_echo.bin", dir), whole);
Deno.copyFileSync(new URL("exec_echo_trimmed.json", dir), new URL("exec_echo.json", dir));
pick("exec_args_truncated", (i) => ev(i).type === "exec" && ev(i).comm === "true");
pick("exit_code", (i) =>
  ev(i).type === "exit" && ev(i).comm === "sh" && ev(i).pid !== ev(i).ppid &&
  (ev(i) as { exitCode: number }).exitCode === 3);
pick("exit_signal", (i) => ev(i).type === "exit" && (ev(i) as { signal: number }).signal === 9);
