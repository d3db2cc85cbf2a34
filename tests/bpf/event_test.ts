import assert from "node:assert/strict";
import { decodeEvent } from "../../src/bpf/event.ts";
import {
  EVENT_FIELDS,
  EVENT_SIZE,
  EXEC_HEAD_SIZE,
  EXIT_EVENT_SIZE,
} from "../../src/bpf/event_layout.gen.ts";

const dir = new URL("../testdata/bpf/", import.meta.url);
const sample = (name: string) => Deno.readFileSync(new URL(`${name}.bin`, dir));
const expected = (name: string) => JSON.parse(Deno.readTextFileSync(new URL(`${name}.json`, dir)));
/** The decoded event with bigints as strings, the form of the recorded JSON. */
const asJson = (value: unknown) =>
  JSON.parse(JSON.stringify(value, (_k, v) => typeof v === "bigint" ? `${v}` : v));

// exec_echo and exec_args_truncated are whole-struct samples of the first object (1368
// bytes, still accepted); exec_echo_trimmed is the head plus args_size bytes of argv.
const RECORDED = [
  "exec_echo",
  "exec_echo_trimmed",
  "exec_args_truncated",
  "exit_code",
  "exit_signal",
];
for (const name of RECORDED) {
  Deno.test(`decodeEvent() decodes the recorded sample ${name}`, () => {
    assert.deepEqual(asJson(decodeEvent(sample(name))), expected(name));
  });
}

Deno.test("decodeEvent() splits argv at NULs and decodes UTF-8", () => {
  const e = decodeEvent(sample("exec_echo"));
  assert.equal(e.type, "exec");
  if (e.type !== "exec") return;
  assert.deepEqual(e.args, ["/bin/echo", "hello-crienrich", "two words", "é"]);
  assert.equal(e.binary, "/bin/echo");
  assert.equal(e.argsTruncated, false);
});

Deno.test("decodeEvent() flags argv cut at 1024 bytes", () => {
  const e = decodeEvent(sample("exec_args_truncated"));
  assert.ok(e.type === "exec" && e.argsTruncated);
  if (e.type !== "exec") return;
  assert.equal(e.args.join("\0").length, EVENT_FIELDS.args.size);
  assert.equal(e.args.length, 2, "the argument after the cut is gone");
});

Deno.test("decodeEvent() decodes exit code and killing signal", () => {
  const code = decodeEvent(sample("exit_code"));
  const signal = decodeEvent(sample("exit_signal"));
  assert.ok(code.type === "exit" && signal.type === "exit");
  assert.deepEqual([code.exitCode, code.signal], [3, 0]);
  assert.deepEqual([signal.exitCode, signal.signal], [0, 9]);
  assert.ok(code.durationNs > 0n);
});

Deno.test("decodeEvent() accepts trailing bytes after the event", () => {
  for (const name of ["exec_echo", "exec_echo_trimmed", "exit_code"]) {
    const raw = sample(name);
    const longer = new Uint8Array(raw.length + 13).fill(0xff);
    longer.set(raw);
    assert.deepEqual(decodeEvent(longer), decodeEvent(raw));
  }
});

Deno.test("decodeEvent() reads a sample at a non-zero offset of its buffer", () => {
  const raw = sample("exec_echo");
  const buffer = new Uint8Array(raw.length + 3);
  buffer.set(raw, 3);
  assert.deepEqual(decodeEvent(buffer.subarray(3)), decodeEvent(raw));
});

Deno.test("decodeEvent() rejects a short sample", () => {
  assert.throws(() => decodeEvent(new Uint8Array(0)), RangeError);
  assert.throws(
    () => decodeEvent(sample("exit_code").subarray(0, EXIT_EVENT_SIZE - 1)),
    RangeError,
  );
  assert.throws(
    () => decodeEvent(sample("exec_echo").subarray(0, EXEC_HEAD_SIZE - 1)),
    new RangeError(
      `Cannot decode exec sample: ${EXEC_HEAD_SIZE - 1} bytes, need ${EXEC_HEAD_SIZE}`,
    ),
  );
});

/** args_size of a recorded exec sample. */
const argsSize = (raw: Uint8Array) =>
  new DataView(raw.buffer, raw.byteOffset).getUint32(EVENT_FIELDS.args_size.offset, true);

Deno.test("decodeEvent() decodes an exec sample of the head and args_size bytes only", () => {
  const full = sample("exec_echo");
  assert.equal(full.length >= EVENT_SIZE, true, "the fixture is a whole-struct sample");
  const size = argsSize(full);
  assert.equal(size, 39);
  const short = full.subarray(0, EXEC_HEAD_SIZE + size);
  assert.deepEqual(decodeEvent(short), decodeEvent(full));
  // An exec with an empty argv (arg_end <= arg_start, or the read failed) is the head alone.
  const empty = full.slice(0, EXEC_HEAD_SIZE);
  new DataView(empty.buffer).setUint32(EVENT_FIELDS.args_size.offset, 0, true);
  const e = decodeEvent(empty);
  assert.ok(e.type === "exec");
  assert.deepEqual([e.binary, e.args], ["/bin/echo", []]);
});

Deno.test("decodeEvent() reads the recorded trimmed sample as the kernel sent it", () => {
  const raw = sample("exec_echo_trimmed");
  // Perf pads the 4-byte size and the data to 8 bytes: 352 + 39 bytes arrive as 396.
  assert.equal(EXEC_HEAD_SIZE + argsSize(raw), 391);
  assert.equal(raw.length, 396);
  const e = decodeEvent(raw);
  assert.ok(e.type === "exec");
  assert.deepEqual(e.args, ["/bin/echo", "hello-crienrich", "two words", "é"]);
});

Deno.test("decodeEvent() rejects an exec sample cut inside argv", () => {
  for (const name of ["exec_echo", "exec_echo_trimmed"]) {
    const raw = sample(name);
    const size = argsSize(raw);
    assert.throws(
      () => decodeEvent(raw.subarray(0, EXEC_HEAD_SIZE + size - 1)),
      new RangeError(
        `Cannot decode exec sample: ${EXEC_HEAD_SIZE + size - 1} bytes, ` +
          `need ${EXEC_HEAD_SIZE} + ${size} of argv`,
      ),
    );
  }
  const cut = sample("exec_args_truncated").subarray(0, EVENT_SIZE - 1);
  assert.throws(() => decodeEvent(cut), /need 352 \+ 1024 of argv/);
});

Deno.test("decodeEvent() rejects an unknown event type", () => {
  const raw = sample("exit_code").slice();
  new DataView(raw.buffer).setUint32(EVENT_FIELDS.type.offset, 99, true);
  assert.throws(() => decodeEvent(raw), RangeError);
});

Deno.test("decodeEvent() replaces invalid UTF-8 and stops strings at the first NUL", () => {
  const raw = sample("exec_echo").slice();
  raw.set([0xff, 0x41, 0, 0x42], EVENT_FIELDS.comm.offset);
  const e = decodeEvent(raw);
  assert.equal(e.comm, "\uFFFDA");
});

Deno.test("decodeEvent() bounds argv by its field even when args_size lies", () => {
  const raw = sample("exec_echo").slice();
  new DataView(raw.buffer).setUint32(EVENT_FIELDS.args_size.offset, 0xffffffff, true);
  const e = decodeEvent(raw);
  assert.ok(e.type === "exec" && e.args.join("\0").length <= EVENT_FIELDS.args.size);
  // A trimmed sample whose args_size claims more than arrived is refused, not over-read.
  const short = sample("exec_echo_trimmed").slice();
  new DataView(short.buffer).setUint32(EVENT_FIELDS.args_size.offset, 0xffffffff, true);
  assert.throws(() => decodeEvent(short), /396 bytes, need 352 \+ 1024 of argv/);
});
