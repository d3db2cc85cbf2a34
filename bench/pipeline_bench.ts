// deno-lint-ignore-file no-console
/**
 * User-space cost per event without the kernel: recorded perf samples of each kind (exec,
 * exit, connect, accept, close, open, from tests/testdata/bpf/) go through the same steps as
 * in `trace -o json`: decodeSample → ReorderBuffer → EventPipeline (joined with a cache
 * entry resolved beforehand, as in steady state) → traceEventLine (the JSON line) →
 * LineWriter (batched per drain, UTF-8 encoded, written to a sink that discards). Reports events per
 * second on one core, per kind and mixed.
 *
 * A benchmark, not a test: it judges nothing. No root, no kernel. See bench/README.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { exitWithHelpIf, positiveFlag } from "./flags.ts";
import { cpuUsage } from "node:process";
import { decodeSample, type KernelSample } from "../src/bpf/event.ts";
import { EnrichmentCache } from "../src/enrich/cache.ts";
import { EventPipeline } from "../src/enrich/pipeline.ts";
import { ReorderBuffer } from "../src/enrich/reorder.ts";
import type { ContainerResolver, Resolution } from "../src/enrich/resolver.ts";
import { traceEventLine } from "../src/output/trace_event.ts";
import { LineWriter } from "../src/output/writer.ts";
import type { ContainerRecord } from "../src/runtime/record.ts";

const HELP = `Usage: deno task bench:pipeline [--events N] [--rounds R] [--batch B] [--json]

decode → join → serialize of recorded samples, per kind, on one core (no root needed).
  --events N   events per kind per round (default 200000)
  --rounds R   timed rounds per kind, after one warm-up round (default 5)
  --batch B    samples per simulated perf-buffer drain (default 256)
  --json       stdout gets one JSON document instead of the table`;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "200000" },
    rounds: { type: "string", default: "5" },
    batch: { type: "string", default: "256" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
exitWithHelpIf(flags.help, HELP);
const EVENTS = positiveFlag(flags.events, "--events");
const ROUNDS = positiveFlag(flags.rounds, "--rounds");
const BATCH = positiveFlag(flags.batch, "--batch");

/** The recorded sample of each kind (tests/bpf/capture_*samples.ts made them). */
const SAMPLES = {
  exec: "exec_echo_trimmed.bin",
  exit: "exit_code.bin",
  connect: "connect_loopback.bin",
  accept: "accept_loopback.bin",
  close: "close_loopback.bin",
  open: "open_hostname.bin",
} as const;
type Kind = keyof typeof SAMPLES;
const dir = new URL("../tests/testdata/bpf/", import.meta.url);
const samples = Object.fromEntries(
  Object.entries(SAMPLES).map(([kind, file]) => [kind, Deno.readFileSync(new URL(file, dir))]),
) as Record<Kind, Uint8Array>;

/** A container record as the CRI client builds it for a Deployment's pod. */
function containerRecord(): ContainerRecord {
  const id = "3f1c0ad2b6e94c7d8a5e1f20c4b9d7e6a8f0b1c2d3e4f5a6b7c8d9e0f1a2b3c4";
  return {
    id,
    name: "app",
    state: "running",
    created: "2025-01-01T00:00:00.000000000Z",
    started: "2025-01-01T00:00:01.000000000Z",
    attempt: 0,
    image: "registry.example.com/team/app:1.4.2",
    image_id: "sha256:9a8b7c6d5e4f30211203948576a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8",
    image_ref: "registry.example.com/team/app@sha256:9a8b7c6d5e4f30211203948576a6b5c4d3e2f1a0",
    runtime: "containerd",
    runtime_endpoint: "unix:///run/containerd/containerd.sock",
    pod: {
      sandbox_id: "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1",
      name: "app-7d9f8c6b5-x2x4z",
      namespace: "shop",
      uid: "6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
      labels: { app: "app", "pod-template-hash": "7d9f8c6b5", tier: "backend" },
    },
    compose: null,
    labels: { "io.kubernetes.container.name": "app" },
    annotations: {},
    pid: 4242,
    cgroup_path: `/kubepods/besteffort/pod6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/${id}`,
    cgroup_id: 4321,
    mntns_id: 4026532469,
  };
}

/** Resolves every namespace to the one container, at once (the steady state's cache hit). */
const resolver = {
  resolve: (): Promise<Resolution> =>
    Promise.resolve({ kind: "container", record: containerRecord(), proof: "bench" }),
} as unknown as ContainerResolver;

/** Discards what it is given, as `> /dev/null` does, after the encode. */
const sink = { bytes: 0, writeSync: (p: Uint8Array) => (sink.bytes += p.length, p.length) };

interface KindResult {
  kind: Kind | "mixed";
  sample_bytes: number;
  line_bytes: number;
  /** Events per second of wall time, one per round. */
  per_second: number[];
  /** Events per second of process CPU (user+system, all threads: GC included). */
  per_cpu_second: number[];
}

async function measure(kind: Kind | "mixed"): Promise<KindResult> {
  const inputs = kind === "mixed" ? Object.values(samples) : [samples[kind]];
  const seqs = new Set(inputs.map((b) => (decodeSample(b) as { mntnsSeq: bigint }).mntnsSeq));
  const cache = new EnrichmentCache(resolver, {
    selector: { pod: "app-7d9f8c6b5-x2x4z", namespace: "shop" },
    includeHost: false,
    onVerdict: () => {},
  });
  for (const seq of seqs) {
    await cache.resolve({ mntnsSeq: seq, mntnsId: 0n, pid: 1, tsBootNs: 0n, wallTimeNs: 0n });
  }
  const writer = new LineWriter(sink);
  // The tracer's clock conversion: an offset read at most once a second.
  let offset = 0n, offsetAt = 0;
  const wallClockNs = (bootNs: bigint) => {
    const now = Date.now();
    if (now - offsetAt >= 1000) {
      offset = BigInt(now) * 1_000_000n - bootNs;
      offsetAt = now;
    }
    return bootNs + offset;
  };
  let printed = 0;
  const pipeline = new EventPipeline({
    cache,
    wallClockNs,
    printUnresolved: false,
    showRuntimeHelpers: true,
    emit: (enriched) => {
      printed++;
      return writer.writeLine(
        traceEventLine({ ...enriched, timeNs: wallClockNs(enriched.event.tsBootNs) }, "node-1"),
      );
    },
  });
  const reorder = new ReorderBuffer<KernelSample>();
  const round = () => {
    for (let done = 0; done < EVENTS;) {
      writer.hold();
      const n = Math.min(BATCH, EVENTS - done);
      for (let i = 0; i < n; i++) reorder.add(decodeSample(inputs[(done + i) % inputs.length]!));
      for (const s of reorder.releaseAll()) pipeline.push(s);
      writer.flush();
      done += n;
    }
  };
  const bytes0 = sink.bytes;
  round(); // warm-up: JIT
  const lineBytes = (sink.bytes - bytes0) / EVENTS - 1;
  const perSecond: number[] = [], perCpuSecond: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const cpu0 = cpuUsage(), t0 = performance.now();
    round();
    const ms = performance.now() - t0, cpu = cpuUsage(cpu0);
    perSecond.push(EVENTS / (ms / 1000));
    perCpuSecond.push(EVENTS / ((cpu.user + cpu.system) / 1e6));
  }
  await pipeline.flush();
  if (printed !== EVENTS * (ROUNDS + 1)) {
    throw new Error(`${kind}: printed ${printed} of ${EVENTS * (ROUNDS + 1)} events`);
  }
  return {
    kind,
    sample_bytes: Math.round(inputs.reduce((s, b) => s + b.length, 0) / inputs.length),
    line_bytes: Math.round(lineBytes),
    per_second: perSecond,
    per_cpu_second: perCpuSecond,
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b), m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const results: KindResult[] = [];
for (const kind of [...Object.keys(SAMPLES) as Kind[], "mixed" as const]) {
  results.push(await measure(kind));
}

if (flags.json) {
  console.log(JSON.stringify(
    {
      config: { events: EVENTS, rounds: ROUNDS, batch: BATCH, deno: Deno.version.deno },
      results,
    },
    null,
    2,
  ));
} else {
  const k = (x: number) => `${(x / 1000).toFixed(0)}k`;
  console.log(
    `decode → join → serialize, ${EVENTS} events × ${ROUNDS} rounds per kind, one core, ` +
      `Deno ${Deno.version.deno} (events/s: median [min–max])`,
  );
  const rows = [["kind", "sample B", "line B", "events/s (wall)", "events/CPU-s", "µs/event"]];
  for (const r of results) {
    const m = median(r.per_second);
    rows.push([
      r.kind,
      String(r.sample_bytes),
      String(r.line_bytes),
      `${k(m)} [${k(Math.min(...r.per_second))}–${k(Math.max(...r.per_second))}]`,
      k(median(r.per_cpu_second)),
      (1e6 / m).toFixed(2),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => [...row[i]!].length)));
  for (const row of rows) {
    console.log(row.map((c, i) => c.padEnd(widths[i]! + 2)).join("").trimEnd());
  }
}
