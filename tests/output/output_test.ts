import assert from "node:assert/strict";
import { escapeControl } from "../../src/output/escape.ts";
import {
  type Column,
  describeColumns,
  renderStreamRow,
  renderTable,
} from "../../src/output/table.ts";
import { errnoName, openFlagNames, tcpStateName } from "../../src/output/kernel_names.ts";
import { LineWriter } from "../../src/output/writer.ts";
import { TRACE_COLUMNS, traceEventJson } from "../../src/output/trace_event.ts";
import { execArgsContain, execMatches, globToRegExp } from "../../src/trace/until.ts";
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

const processBase = {
  tsBootNs: 1n,
  pid: 42,
  tid: 42,
  ppid: 1,
  uid: 0,
  gid: 0,
  comm: "nc",
  cgroupId: 7n,
  mntnsId: 8n,
  mntnsSeq: 9n,
  mntnsUnknown: false,
};

Deno.test("traceEventJson() and the table give a TCP event its net object and text", () => {
  const event = {
    ...processBase,
    type: "connect",
    net: {
      protocol: "tcp",
      family: "ipv6",
      saddr: "::1",
      sport: 40000,
      daddr: "::1",
      dport: 8080,
    },
    tcpState: 7,
    error: 111,
    durationNs: 250_000n,
  } as const;
  const timed = { event, record: null, pod: null, sandbox: false, unresolved: false, timeNs: 1n };
  const json = traceEventJson(timed, "node1");
  assert.equal(json.type, "connect");
  assert.deepEqual(json.process, { pid: 42, ppid: 1, uid: 0, gid: 0, comm: "nc" });
  assert.deepEqual(json.net, {
    protocol: "tcp",
    family: "ipv6",
    saddr: "::1",
    sport: 40000,
    daddr: "::1",
    dport: 8080,
    result: "failed",
    state: "CLOSE",
    error: "ECONNREFUSED",
    duration_ns: 250_000,
  });
  assert.equal("file" in json, false);
  const row = renderStreamRow(TRACE_COLUMNS, timed);
  assert.match(row, /connect \[::1\]:40000 -> \[::1\]:8080 failed ECONNREFUSED \(0\.3 ms\)$/);
});

Deno.test("traceEventJson() and the table give an open its file object, control characters escaped", () => {
  const event = {
    ...processBase,
    type: "open",
    path: "/tmp/evil\n\u001b[31mname",
    pathTruncated: false,
    flags: 0o2000101,
    mode: 0o600,
    result: -13,
    openat2: true,
    durationNs: 1000n,
  } as const;
  const timed = { event, record: null, pod: null, sandbox: false, unresolved: false, timeNs: 1n };
  const json = traceEventJson(timed, "node1");
  assert.deepEqual(json.file, {
    path: "/tmp/evil\n\u001b[31mname",
    path_truncated: false,
    flags: ["O_WRONLY", "O_CREAT", "O_CLOEXEC"],
    mode: 0o600,
    fd: null,
    error: "EACCES",
    syscall: "openat2",
    duration_ns: 1000,
  });
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(json)));
  const row = renderStreamRow(TRACE_COLUMNS, timed);
  assert.equal(row.includes("\n") || row.includes("\u001b"), false, row);
  assert.match(row, /open \/tmp\/evil\\n\\x1b\[31mname O_WRONLY\|O_CREAT\|O_CLOEXEC = EACCES$/);
});

Deno.test("openFlagNames(), errnoName() and tcpStateName() name the kernel's numbers", () => {
  assert.deepEqual(openFlagNames(0), ["O_RDONLY"]);
  assert.deepEqual(openFlagNames(0o2), ["O_RDWR"]);
  assert.deepEqual(openFlagNames(0o4010000 | 0o1), ["O_WRONLY", "O_SYNC"]);
  assert.deepEqual(openFlagNames(0o20200000), ["O_RDONLY", "O_TMPFILE"]);
  assert.deepEqual(openFlagNames(0o200000), ["O_RDONLY", "O_DIRECTORY"]);
  assert.deepEqual(openFlagNames(0o40000000), ["O_RDONLY", "0o40000000"]);
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(111), "ECONNREFUSED");
  assert.equal(errnoName(41), "errno 41");
  assert.equal(errnoName(4095), "errno 4095");
  assert.equal(tcpStateName(1), "ESTABLISHED");
  assert.equal(tcpStateName(99), "state 99");
});
