/**
 * traceEventLine() (the fast NDJSON line of `trace -o json`) against the object contract
 * traceEventJson(), on the recorded samples of every kind; nsToRfc3339()'s per-second cache.
 */
import assert from "node:assert/strict";
import { decodeEvent } from "../../src/bpf/event.ts";
import { type TimedEvent, traceEventJson, traceEventLine } from "../../src/output/trace_event.ts";
import { type ContainerRecord, nsToRfc3339, type PodRecord } from "../../src/runtime/record.ts";

const dir = new URL("../testdata/bpf/", import.meta.url);
const SAMPLES = [
  "exec_echo.bin",
  "exec_args_truncated.bin",
  "exit_code.bin",
  "exit_signal.bin",
  "connect_loopback.bin",
  "connect_refused.bin",
  "accept_loopback.bin",
  "close_loopback.bin",
  "open_hostname.bin",
];

const pod: PodRecord = {
  sandbox_id: "s".repeat(64),
  name: "web-0",
  namespace: "shop",
  uid: "6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
  labels: { app: "web", 'é"quote': "line\nbreak" },
};
const record = {
  id: "c".repeat(64),
  name: "app",
  image: "registry.example.com/app:1",
  image_id: `sha256:${"e".repeat(64)}`,
  runtime: "containerd",
  compose: null,
  pod,
} as unknown as ContainerRecord;

Deno.test("traceEventLine() is JSON.stringify(traceEventJson()) for every kind and join", () => {
  for (const file of SAMPLES) {
    const event = decodeEvent(Deno.readFileSync(new URL(file, dir)));
    const joins: Omit<TimedEvent, "event">[] = [
      { record, pod, sandbox: false, unresolved: false, timeNs: 1_795_991_615_000_000_001n },
      { record: null, pod, sandbox: true, unresolved: false, timeNs: 1n },
      { record: null, pod: null, sandbox: false, unresolved: true, timeNs: 0n },
    ];
    for (const join of joins) {
      const timed = { event, ...join };
      // Twice: the second line comes from the cached container and pod text.
      for (let i = 0; i < 2; i++) {
        assert.equal(
          traceEventLine(timed, "node-1"),
          JSON.stringify(traceEventJson(timed, "node-1")),
          file,
        );
      }
    }
  }
});

Deno.test("nsToRfc3339() formats consecutive times within and across seconds", () => {
  const slow = (ns: bigint) =>
    new Date(Number(ns / 1_000_000n)).toISOString().replace(
      /\.\d{3}Z$/,
      `.${(ns % 1_000_000_000n).toString().padStart(9, "0")}Z`,
    );
  let ns = 1_795_991_614_999_999_998n;
  for (let i = 0; i < 6; i++, ns += 1n) assert.equal(nsToRfc3339(ns), slow(ns));
  for (const t of [1n, 999_999_999n, 1_000_000_000n, 1_795_991_615_000_000_001n]) {
    assert.equal(nsToRfc3339(t), slow(t));
    assert.equal(nsToRfc3339(String(t)), slow(t));
  }
});
