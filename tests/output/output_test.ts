import assert from "node:assert/strict";
import { escapeControl } from "../../src/output/escape.ts";
import { type Column, describeColumns, renderTable } from "../../src/output/table.ts";
import { LineWriter } from "../../src/output/writer.ts";
import {
  execArgsContain,
  execMatches,
  globToRegExp,
  traceEventJson,
} from "../../src/output/trace_event.ts";
import { buildDockerRecord } from "../../src/runtime/docker_record.ts";

Deno.test("escapeControl() makes C0, C1, DEL and line separators visible", () => {
  assert.equal(escapeControl("plain text é ✓"), "plain text é ✓");
  assert.equal(escapeControl("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  assert.equal(escapeControl("\u001b[2J\u0000\u007f\u009b"), "\\x1b[2J\\x00\\x7f\\x9b");
  assert.equal(escapeControl("back\\slash"), "back\\\\slash");
  assert.equal(escapeControl("x\u2028y"), "x\\u{2028}y");
  assert.equal(escapeControl("evil\u202egpj.exe"), "evil\\u{202e}gpj.exe", "bidi override");
  assert.equal(escapeControl("\u2066a\u2069\u200f"), "\\u{2066}a\\u{2069}\\u{200f}");
});

Deno.test("renderTable() aligns columns, escapes cells and cuts at maxWidth", () => {
  const columns: Column<{ a: string; b: string }>[] = [
    { header: "A", description: "first", value: (r) => r.a },
    { header: "BEE", description: "second", value: (r) => r.b, maxWidth: 5 },
  ];
  const lines = renderTable(columns, [{ a: "long\nvalue", b: "x" }, { a: "s", b: "abcdefgh" }]);
  assert.deepEqual(lines, [
    "A             BEE",
    "long\\nvalue   x",
    "s             abcd…",
  ]);
  assert.equal(describeColumns(columns), "  A    first\n  BEE  second");
});

Deno.test("LineWriter.writeJson() writes one NDJSON line, control characters escaped", () => {
  const chunks: Uint8Array[] = [];
  const writer = new LineWriter({ writeSync: (p) => (chunks.push(p.slice()), p.length) });
  writer.writeJson({ id: 253, s: "a\u001bb\n" });
  const text = new TextDecoder().decode(chunks[0]);
  assert.equal(text, '{"id":253,"s":"a\\u001bb\\n"}\n');
  assert.deepEqual(JSON.parse(text), { id: 253, s: "a\u001bb\n" });
});

Deno.test("LineWriter.writeLine() finishes short writes and stops quietly on a broken pipe", () => {
  let out = "";
  const halves = new LineWriter({
    writeSync: (p) => {
      const n = Math.max(1, Math.floor(p.length / 2));
      out += new TextDecoder().decode(p.subarray(0, n));
      return n;
    },
  });
  assert.equal(halves.writeLine("hello world"), true);
  assert.equal(out, "hello world\n");
  const broken = new LineWriter({
    writeSync: () => {
      throw new Deno.errors.BrokenPipe("closed");
    },
  });
  assert.equal(broken.writeLine("x"), false);
  assert.equal(broken.closed, true);
  assert.equal(broken.writeLine("y"), false);
});

Deno.test("LineWriter.hold() gathers whole lines into one write until flush()", () => {
  const writes: string[] = [];
  const writer = new LineWriter({
    writeSync: (p) => (writes.push(new TextDecoder().decode(p)), p.length),
  });
  writer.hold();
  writer.writeLine("a");
  writer.writeJson({ b: 1 });
  assert.deepEqual(writes, []);
  assert.equal(writer.flush(), true);
  assert.deepEqual(writes, ['a\n{"b":1}\n']);
  writer.writeLine("c");
  assert.deepEqual(writes, ['a\n{"b":1}\n', "c\n"]);
  writer.hold();
  writer.writeLine("x".repeat(70 * 1024));
  assert.equal(writes.length, 3, "a held batch past 64 KiB is written at once");
});

Deno.test("execMatches() matches the binary, argv[0] or the base name, never the arguments", () => {
  const exec = (binary: string, args: string[]) =>
    ({ type: "exec", binary, args }) as unknown as Parameters<typeof execMatches>[0];
  const entrypoint = exec("/bin/sh", ["/bin/sh", "-c", "sleep 1; /bin/hostname"]);
  assert.equal(execMatches(entrypoint, "/bin/hostname"), false);
  assert.equal(execMatches(entrypoint, "hostname"), false);
  assert.equal(execArgsContain(entrypoint, "/bin/hostname"), true);
  const hostname = exec("/bin/hostname", ["hostname"]);
  for (const pattern of ["/bin/hostname", "hostname", "host*", "/bin/h?stname", "[gh]ostname"]) {
    assert.equal(execMatches(hostname, pattern), true, pattern);
  }
  for (const pattern of ["/bin/host", "*name/x", "/*", "[!h]ostname", "host.ame"]) {
    assert.equal(execMatches(hostname, pattern), false, pattern);
  }
  // busybox re-exec: the file is /proc/self/exe, argv[0] names the applet.
  assert.equal(execMatches(exec("/proc/self/exe", ["/bin/app"]), "/bin/app"), true);
  assert.equal(globToRegExp("a[b").test("a[b"), true, "an unclosed class is literal");
});

Deno.test("traceEventJson() gives a container its runtime and Compose project and service", () => {
  const record = buildDockerRecord({
    inspect: {
      Id: "d".repeat(64),
      Name: "/shop-web-1",
      Image: `sha256:${"e".repeat(64)}`,
      State: { Status: "running", Running: true, Pid: 42 },
      Config: {
        Image: "busybox",
        Labels: { "com.docker.compose.project": "shop", "com.docker.compose.service": "web" },
      },
    },
    runtimeEndpoint: "unix:///run/docker.sock",
  });
  const event = {
    type: "exit",
    tsBootNs: 1n,
    pid: 42,
    tid: 42,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "sh",
    cgroupId: 7n,
    mntnsId: 8n,
    mntnsSeq: 9n,
    mntnsUnknown: false,
    exitCode: 0,
    signal: 0,
    durationNs: 5n,
  } as const;
  const json = traceEventJson(
    { event, record, pod: null, sandbox: false, unresolved: false, timeNs: 1n },
    "node1",
  );
  assert.deepEqual(json.container, {
    id: "d".repeat(64),
    name: "shop-web-1",
    image: "busybox",
    image_id: `sha256:${"e".repeat(64)}`,
    runtime: "docker",
    compose: { project: "shop", service: "web" },
  });
  assert.equal(json.pod, null);
});
