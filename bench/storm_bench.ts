// deno-lint-ignore-file no-console
/**
 * Storm benchmark: crienrich against bpftrace on the same workloads, in one run.
 *
 * A private lab containerd runs pod `demo/bench` (a sleeping container) and an idle pod.
 * Per event kind (storm_kinds.ts: execs of /bin/true, opens of /etc/hostname, TCP connects
 * on loopback, each from a busybox shell loop run through CRI ExecSync), each round traces
 * a storm in the bench pod with each tracer in turn, both filtering in the kernel to that
 * one container: crienrich by mount namespace (`trace --pod bench --events KIND`), bpftrace
 * by cgroup v2 id. It reports, per tracer: CPU of the tracer process per delivered event,
 * BPF run time per event made, events seen and lost, spawn → attached and spawn → first
 * event, and peak RSS; median and range over the rounds, and crienrich/bpftrace ratios.
 * For the kinds named by `--other-pod`, the same storm then runs in the idle pod while
 * the tracer still traces the bench pod: what a storm it does not select costs it.
 *
 * A benchmark, not a test: it judges nothing and exits 0 whenever it could measure.
 * Needs root, containerd, runc, busybox-static, bpftool, bpftrace. See bench/README.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { exitWithHelpIf, positiveFlag } from "./flags.ts";
import { fileURLToPath } from "node:url";
import { Lab } from "../scripts/lab/lab.ts";
import { CriClient } from "../src/runtime/cri_client.ts";
import { bpfProgramIds } from "../src/runtime/proc.ts";
import {
  type BpfProgramStats,
  bpfProgramStats,
  BpfStatsSwitch,
  clockTicksPerSecond,
  readCpu,
  readPeakRssKib,
  readSchedstatNs,
} from "./proc_stats.ts";
import { ratios, renderTable, summarize, type TracerResult } from "./report.ts";
import { type OutputCounts, STORM_KINDS, type StormKind } from "./storm_kinds.ts";
import { deadline, sleep, TracerProcess, type TracerSpec } from "./tracer_process.ts";

const HELP = `Usage: deno task bench [--kinds K,...] [--execs N] [--opens N] [--connects N]
                       [--rounds R] [--other-pod K,...] [--json] [--drain-ms MS]
                       [--crienrich-output json|table] [--buffer-pages N] [--keep]

Storms in a lab pod, traced by crienrich and by bpftrace in turn (as root).
  --kinds K,...        storms to run: exec, open, connect (default all three)
  --execs N            execs of /bin/true per storm (default 3000)
  --opens N            opens of /etc/hostname per storm (default 100000)
  --connects N         TCP connects on loopback per storm (default 5000)
  --rounds R           rounds, alternating which tracer goes first (default 3)
  --other-pod K,...    kinds whose storm also runs in another pod, untraced (default open;
                       "none" for none)
  --json               stdout gets one JSON document; the table goes to stderr
  --drain-ms MS        output quiet this long after the storm = drained (default 500)
  --crienrich-output F crienrich's -o: json (default, as specified) or table
  --buffer-pages N     crienrich's --buffer-pages (default: crienrich's own default)
  --keep               keep the tracers' output files (their directory is printed)`;

const repo = fileURLToPath(new URL("..", import.meta.url));
const containerdScript = fileURLToPath(new URL("../scripts/lab/containerd.sh", import.meta.url));

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    kinds: { type: "string", default: STORM_KINDS.map((k) => k.kind).join(",") },
    execs: { type: "string" },
    opens: { type: "string" },
    connects: { type: "string" },
    rounds: { type: "string", default: "3" },
    "other-pod": { type: "string", default: "open" },
    json: { type: "boolean", default: false },
    "drain-ms": { type: "string", default: "500" },
    "crienrich-output": { type: "string", default: "json" },
    "buffer-pages": { type: "string" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
exitWithHelpIf(flags.help, HELP);
const kindsOf = (text: string, flag: string): StormKind[] =>
  text === "none" ? [] : text.split(",").map((name) => {
    const kind = STORM_KINDS.find((k) => k.kind === name.trim());
    if (!kind) {
      console.error(`Invalid ${flag} "${name}": expected exec, open or connect`);
      Deno.exit(2);
    }
    return kind;
  });
const KINDS = kindsOf(flags.kinds, "--kinds");
const OTHER_POD_KINDS = new Set(kindsOf(flags["other-pod"], "--other-pod").map((k) => k.kind));
/** Events per storm, by kind. */
const COUNTS: Record<StormKind["kind"], number> = {
  exec: flags.execs === undefined ? 3000 : positiveFlag(flags.execs, "--execs"),
  open: flags.opens === undefined ? 100_000 : positiveFlag(flags.opens, "--opens"),
  connect: flags.connects === undefined ? 5000 : positiveFlag(flags.connects, "--connects"),
};
const ROUNDS = positiveFlag(flags.rounds, "--rounds");
const DRAIN_MS = positiveFlag(flags["drain-ms"], "--drain-ms");
const CRIENRICH_OUTPUT = flags["crienrich-output"];
const BUFFER_PAGES = flags["buffer-pages"] === undefined
  ? []
  : ["--buffer-pages", String(positiveFlag(flags["buffer-pages"], "--buffer-pages"))];
if (CRIENRICH_OUTPUT !== "json" && CRIENRICH_OUTPUT !== "table") {
  console.error(`Invalid --crienrich-output "${CRIENRICH_OUTPUT}": expected json or table`);
  Deno.exit(2);
}
// The table goes where the JSON does not.
const table = flags.json ? console.error : console.log;
const log = (line: string) => console.error(`bench: ${line}`);

// Per-phase deadlines, in ms. A storm's scales with its size (here ~1-3 ms per exec or
// connect, ~30 µs per open).
const PER_EVENT_MS: Record<StormKind["kind"], number> = { exec: 20, open: 1, connect: 20 };
const stormTimeoutMs = (k: StormKind) => 60_000 + COUNTS[k.kind] * PER_EVENT_MS[k.kind];
const PHASE_MS = { lab: 180_000, pod: 60_000, attach: 90_000, marker: 20_000, stop: 15_000 };
const GLOBAL_TIMEOUT_MS = 300_000 +
  KINDS.reduce((sum, k) => sum + (ROUNDS * 3 + 2) * (stormTimeoutMs(k) + 120_000), 0);

// ---------------------------------------------------------------------------------------
// Abort on SIGINT/SIGTERM or the global deadline: every phase races `aborted`, and the
// cleanups below run in `finally` (a hard exit follows if they hang).

const aborted = Promise.withResolvers<never>();
aborted.promise.catch(() => {});
let abortReason: string | null = null;
function abort(reason: string): void {
  if (abortReason !== null) return;
  abortReason = reason;
  aborted.reject(new Error(`Aborted: ${reason}`));
}
const onSignal = (name: string) => () => {
  if (abortReason !== null) Deno.exit(130); // second signal: give up on cleanup
  log(`${name}: cleaning up`);
  abort(name);
};
const onInt = onSignal("SIGINT"), onTerm = onSignal("SIGTERM");
Deno.addSignalListener("SIGINT", onInt);
Deno.addSignalListener("SIGTERM", onTerm);
const globalTimer = setTimeout(
  () => abort(`global timeout ${GLOBAL_TIMEOUT_MS} ms`),
  GLOBAL_TIMEOUT_MS,
);

/** `promise`, failing after `ms` or on abort. */
function phase<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  return deadline(what, ms, Promise.race([promise, aborted.promise]));
}

const cleanups: { what: string; run: () => Promise<unknown> | unknown }[] = [];
const activeTracers = new Set<TracerProcess>();

// ---------------------------------------------------------------------------------------

async function commandOutput(cmd: string[], env?: Record<string, string>): Promise<string> {
  const output = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: repo,
    ...(env ? { env } : {}),
    stdin: "null",
  }).output();
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`${cmd.join(" ")} failed (${output.code}): ${err}`);
  }
  return new TextDecoder().decode(output.stdout);
}

function checkPrerequisites(): void {
  if (Deno.uid() !== 0) throw new Error("The benchmark needs root (BPF, containerd)");
  for (const tool of ["bpftrace", "bpftool", "containerd", "runc"]) {
    const found = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin"]
      .some((dir) => {
        try {
          return Deno.statSync(`${dir}/${tool}`).isFile;
        } catch {
          return false;
        }
      });
    if (!found) {
      throw new Error(`${tool} is not installed: apt-get install -y ${tool}`);
    }
  }
}

async function mountTracefs(): Promise<void> {
  try {
    Deno.statSync("/sys/kernel/tracing/events");
  } catch {
    log("mounting tracefs on /sys/kernel/tracing (bpftrace and crienrich attach by name)");
    await commandOutput(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"]);
  }
}

interface Contender {
  name: "crienrich" | "bpftrace";
  spec: TracerSpec;
  count: (text: string) => OutputCounts;
}

/** Lines of crienrich's table output after the header: its events (exec only). */
function countCrienrichTable(text: string): OutputCounts {
  const counts: OutputCounts = { events: 0, seen: 0, lost: 0 };
  for (const line of text.split("\n").slice(1)) {
    if (!line || line.endsWith("]")) continue; // exit rows end with "[exit ...]"
    counts.events++;
    if (line.endsWith(" /bin/true")) counts.seen++;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  checkPrerequisites();
  await mountTracefs();
  const ticks = await clockTicksPerSecond();
  const workDir = await Deno.makeTempDir({ prefix: "crienrich-bench-" });
  cleanups.push({
    what: "remove output files",
    run: () =>
      flags.keep ? log(`outputs kept in ${workDir}`) : Deno.remove(workDir, { recursive: true }),
  });

  const stats = BpfStatsSwitch.enable();
  cleanups.push({ what: "restore kernel.bpf_stats_enabled", run: () => stats.restore() });
  log(`kernel.bpf_stats_enabled=1 (was ${stats.previous}; restored at the end)`);

  // Short directory: unix socket paths are limited to 108 bytes.
  const labDir = `/tmp/crb-${crypto.randomUUID().slice(0, 8)}`;
  const started: { lab?: Lab } = {};
  cleanups.push({
    what: "stop containerd",
    // Lab.stop when the lab came up; the script alone otherwise (it may be half-started).
    run: () =>
      started.lab ? started.lab.stop() : commandOutput(["bash", containerdScript, "stop", labDir]),
  });
  log(`starting containerd in ${labDir}`);
  const lab = started.lab = await phase("start containerd", PHASE_MS.lab, Lab.start(labDir));
  const pod = await phase(
    "run pod demo/bench",
    PHASE_MS.pod,
    lab.runPod({ name: "bench", namespace: "demo", cgroupParent: "kubelet" }),
  );
  const app = await phase("start container app", PHASE_MS.pod, lab.runContainer(pod, "app"));
  const idle = await phase(
    "run pod demo/idle",
    PHASE_MS.pod,
    lab.runPod({ name: "idle", namespace: "demo", cgroupParent: "kubelet" }),
  );
  const idleApp = await phase(
    "start container idle",
    PHASE_MS.pod,
    lab.runContainer(idle, "idle"),
  );
  const labEnv = { CONTAINER_RUNTIME_ENDPOINT: lab.socket };
  const currentLab = lab;

  // The container's cgroup v2 id as crienrich reports it (also warms Deno's module cache).
  const ps = await phase(
    "crienrich ps",
    PHASE_MS.pod,
    commandOutput(
      [
        Deno.execPath(),
        "run",
        "-A",
        "src/main.ts",
        "ps",
        "--pod",
        "bench",
        "-n",
        "demo",
        "-o",
        "json",
      ],
      labEnv,
    ),
  );
  const record = JSON.parse(ps.trim().split("\n")[0]!) as {
    id: string;
    cgroup_id: number | null;
    mntns_id: number | null;
    pid: number;
  };
  if (record.id !== app || record.cgroup_id === null) {
    throw new Error(`crienrich ps did not report container ${app} with a cgroup id: ${ps}`);
  }
  log(
    `pod demo/bench container ${
      app.slice(0, 13)
    }: pid ${record.pid}, cgroup id ${record.cgroup_id}, mntns ${record.mntns_id}`,
  );

  const longestStormMs = Math.max(...KINDS.map(stormTimeoutMs));
  const stormClient = new CriClient(lab.socket, { timeoutMs: longestStormMs });
  cleanups.push({ what: "close CRI client", run: () => stormClient.close() });
  /** Runs `kind`'s storm of `n` events in `container`; resolves to its wall time in ms. */
  const storm = async (kind: StormKind, n: number, container = app): Promise<number> => {
    const timeoutMs = stormTimeoutMs(kind);
    const started = performance.now();
    const response = await phase(
      `${kind.kind} storm of ${n}`,
      timeoutMs + 5000,
      stormClient.call<{ exitCode: number; stderr: Uint8Array }>("RuntimeService", "ExecSync", {
        containerId: container,
        cmd: ["/bin/sh", "-c", kind.script(n)],
        timeout: Math.ceil(timeoutMs / 1000),
      }),
    );
    if (response.exitCode !== 0) {
      throw new Error(
        `${kind.kind} storm exited ${response.exitCode}: ${
          new TextDecoder().decode(response.stderr)
        }`,
      );
    }
    return performance.now() - started;
  };

  // bpftrace's cgroup filter: checked once, on an exec (if this bpftrace cannot filter on the
  // cgroup v2 id, the benchmark stops: a comm filter would not select the same events). Also
  // warms bpftrace's start-up like `ps` warmed Deno.
  const bpftraceFilter = `cgroup == ${record.cgroup_id}`;
  const bpftraceSpec = (kind: StormKind): TracerSpec => ({
    name: "bpftrace",
    command: ["bpftrace", "-e", kind.bpftrace(bpftraceFilter)],
    attached: { stream: "stdout", pattern: /^Attaching \d+ probes?\.\.\./m },
  });
  {
    const exec = STORM_KINDS.find((k) => k.kind === "exec")!;
    const check = TracerProcess.spawn(bpftraceSpec(exec), `${workDir}/bpftrace-check.out`);
    activeTracers.add(check);
    try {
      await phase(
        "bpftrace to attach (filter check)",
        PHASE_MS.attach,
        check.waitAttached(PHASE_MS.attach),
      );
      await phase("marker exec", PHASE_MS.marker, currentLab.exec(app, exec.marker.cmd));
      await phase(
        "bpftrace filter check",
        PHASE_MS.marker,
        check.waitOutput(exec.marker.text, 5000),
      ).catch((error) => {
        throw new Error(`bpftrace did not see the marker with "${bpftraceFilter}"`, {
          cause: error,
        });
      });
    } finally {
      await check.stop(PHASE_MS.stop);
      activeTracers.delete(check);
    }
    log(`bpftrace filter: ${bpftraceFilter}`);
  }

  const contenders = (kind: StormKind): Record<"crienrich" | "bpftrace", Contender> => ({
    crienrich: {
      name: "crienrich",
      spec: {
        name: "crienrich",
        command: [
          Deno.execPath(),
          "run",
          "-A",
          "src/main.ts",
          "trace",
          "--pod",
          "bench",
          "-n",
          "demo",
          "--events",
          kind.events,
          "-o",
          CRIENRICH_OUTPUT,
          "--duration",
          `${Math.ceil(GLOBAL_TIMEOUT_MS / 1000)}s`,
          ...BUFFER_PAGES,
        ],
        env: labEnv,
        cwd: repo,
        attached: { stream: "stderr", pattern: /^crienrich: tracing / },
      },
      count: CRIENRICH_OUTPUT === "json" ? kind.countCrienrich : countCrienrichTable,
    },
    bpftrace: { name: "bpftrace", spec: bpftraceSpec(kind), count: kind.countBpftrace },
  });

  /** BPF run counters of `ids` between two samples. */
  const bpfDelta = (before: BpfProgramStats[], after: BpfProgramStats[]) => {
    const programs = after.map((p1) => {
      const p0 = before.find((p) => p.id === p1.id) ??
        ({ runCount: 0, runTimeNs: 0 } as BpfProgramStats);
      return {
        id: p1.id,
        name: p1.name,
        runs: p1.runCount - p0.runCount,
        run_time_ns: p1.runTimeNs - p0.runTimeNs,
      };
    });
    return {
      programs,
      runs: programs.reduce((s, p) => s + p.runs, 0),
      runTimeNs: programs.reduce((s, p) => s + p.run_time_ns, 0),
    };
  };

  const measure = async (
    kind: StormKind,
    c: Contender,
    round: number,
    position: number,
  ): Promise<TracerResult> => {
    const made = COUNTS[kind.kind];
    const notes: string[] = [];
    const tracer = TracerProcess.spawn(c.spec, `${workDir}/${c.name}-${kind.kind}-${round}.out`);
    activeTracers.add(tracer);
    try {
      const attachedAt = await phase(
        `${c.name} to attach`,
        PHASE_MS.attach,
        tracer.waitAttached(PHASE_MS.attach),
      );
      // One marker event as soon as it says it is attached: spawn → first event.
      await phase("marker", PHASE_MS.marker, currentLab.exec(app, kind.marker.cmd));
      let firstEventAt: number | null = null;
      try {
        firstEventAt = await phase(
          `${c.name} marker event`,
          PHASE_MS.marker,
          tracer.waitOutput(kind.marker.text, 10_000),
        );
      } catch (error) {
        notes.push(`marker event not seen: ${(error as Error).message}`);
      }

      // Before the storm: CPU so far (start-up), BPF counters, events so far.
      const cpu0 = readCpu(tracer.pid, ticks);
      const sched0 = readSchedstatNs(tracer.pid);
      const ids = bpfProgramIds(tracer.pid);
      if (!stats.ensure()) notes.push("kernel.bpf_stats_enabled was turned off by someone else");
      const bpf0 = await phase("bpftool prog show", 30_000, bpfProgramStats(ids));
      const before = c.count(tracer.output());

      const stormMs = await storm(kind, made);
      const drained = await phase("drain", 60_000, tracer.waitQuiet(DRAIN_MS, 45_000));
      if (!drained) notes.push("output still growing 45 s after the storm");

      // After the drain: BPF counters, CPU.
      if (!stats.ensure()) notes.push("kernel.bpf_stats_enabled was turned off by someone else");
      const bpf1 = await phase("bpftool prog show", 30_000, bpfProgramStats(ids));
      const cpu1 = readCpu(tracer.pid, ticks);
      const sched1 = readSchedstatNs(tracer.pid);
      const middle = c.count(tracer.output());

      // The same storm in the idle pod, which the tracer does not select.
      let other: { cpuMs: number; bpfNs: number; events: number } | null = null;
      if (OTHER_POD_KINDS.has(kind.kind)) {
        await storm(kind, made, idleApp);
        await phase("drain", 60_000, tracer.waitQuiet(DRAIN_MS, 45_000));
        const bpf2 = await phase("bpftool prog show", 30_000, bpfProgramStats(ids));
        const cpu2 = readCpu(tracer.pid, ticks);
        other = {
          cpuMs: cpu2.totalMs - cpu1.totalMs,
          bpfNs: bpfDelta(bpf1, bpf2).runTimeNs,
          events: c.count(tracer.output()).events - middle.events,
        };
      }

      const peakRss = readPeakRssKib(tracer.pid);
      const { status, killed } = await tracer.stop(PHASE_MS.stop);
      if (killed) notes.push("did not exit on SIGINT: killed");

      const after = c.count(tracer.output());
      let summary: TracerResult["summary"] = null;
      let lost = after.lost;
      if (c.name === "crienrich") {
        const line = tracer.stderrLines.map((l) =>
          /crienrich: (\d+) events? printed, (\d+) other events filtered, (\d+) lost, (\d+) unresolved/
            .exec(l)
        ).find((m) => m);
        if (line) {
          summary = {
            seen: Number(line[1]) + Number(line[2]),
            printed: Number(line[1]),
            lost: Number(line[3]),
            unresolved: Number(line[4]),
          };
          lost = summary.lost;
        } else notes.push(`no summary line on stderr: ${tracer.stderrTail()}`);
      } else {
        // bpftrace reports drops as "Lost N events" (stdout here, stderr in some versions).
        for (const l of tracer.stderrLines) {
          const m = /Lost (\d+) events/.exec(l);
          if (m) lost += Number(m[1]);
        }
      }
      const delivered = middle.events - before.events;
      const bpf = bpfDelta(bpf0, bpf1);
      const stormCpu = cpu1.totalMs - cpu0.totalMs;
      const stormUser = cpu1.userMs - cpu0.userMs;
      if (after.seen !== made) notes.push(`saw ${after.seen} of ${made} ${kind.unit}`);
      return {
        tracer: c.name,
        kind: kind.kind,
        round,
        position,
        spawn_to_attached_ms: attachedAt - tracer.spawnedAt,
        spawn_to_first_event_ms: firstEventAt === null ? null : firstEventAt - tracer.spawnedAt,
        startup_cpu_ms: cpu0.totalMs,
        storm_cpu_ms: stormCpu,
        storm_user_ms: stormUser,
        storm_system_ms: cpu1.systemMs - cpu0.systemMs,
        events_delivered: delivered,
        seen: after.seen,
        made,
        lost,
        summary,
        cpu_ms_per_event: delivered > 0 ? stormCpu / delivered : null,
        user_ms_per_event: delivered > 0 ? stormUser / delivered : null,
        schedstat_cpu_ms_per_event: delivered > 0 ? (sched1 - sched0) / 1e6 / delivered : null,
        bpf_runs: bpf.runs,
        bpf_run_time_ns: bpf.runTimeNs,
        bpf_ns_per_run: bpf.runs > 0 ? bpf.runTimeNs / bpf.runs : null,
        // Every program of the tracer counts (crienrich's exit program always runs, the open
        // kind is an enter and an exit program): per event made compares like with like.
        bpf_ns_per_made: bpf.runTimeNs / made,
        bpf_programs: bpf.programs,
        peak_rss_kib: peakRss,
        storm_wall_ms: stormMs,
        drained,
        exit_code: status.code,
        killed,
        other_pod_cpu_ms: other?.cpuMs ?? null,
        other_pod_cpu_share: other && stormCpu > 0 ? other.cpuMs / stormCpu : null,
        other_pod_bpf_ns_per_made: other ? other.bpfNs / made : null,
        other_pod_events: other?.events ?? null,
        notes,
      };
    } finally {
      await tracer.stop(PHASE_MS.stop);
      activeTracers.delete(tracer);
    }
  };

  const results: TracerResult[] = [];
  const baselines: Record<string, number> = {};
  for (const kind of KINDS) {
    const made = COUNTS[kind.kind];
    // Warm-up storm, then the untraced baseline (wall time only).
    await storm(kind, Math.min(made, kind.defaultCount / 10));
    baselines[kind.kind] = await storm(kind, made);
    log(`untraced ${kind.kind} storm of ${made}: ${baselines[kind.kind]!.toFixed(0)} ms`);
    const tracers = contenders(kind);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1
        ? ["crienrich", "bpftrace"] as const
        : ["bpftrace", "crienrich"] as const;
      for (const [i, name] of order.entries()) {
        const r = await measure(kind, tracers[name], round, i + 1);
        results.push(r);
        log(
          `${kind.kind} round ${round} ${name}: ${
            ((r.cpu_ms_per_event ?? NaN) * 1000).toFixed(1)
          } µs CPU/event, ` +
            `${
              r.bpf_ns_per_made?.toFixed(0) ?? "n/a"
            } BPF ns/event made, ${r.seen}/${made} seen, ` +
            `${r.lost} lost, first event ${r.spawn_to_first_event_ms?.toFixed(0) ?? "n/a"} ms` +
            (r.other_pod_cpu_share === null
              ? ""
              : `, other pod's storm ${(r.other_pod_cpu_share * 100).toFixed(1)}% of the CPU`) +
            (r.notes.length ? ` (${r.notes.join("; ")})` : ""),
        );
        await sleep(500); // let the machine settle between tracers
      }
    }
  }

  const cpus = navigator.hardwareConcurrency;
  const bpftraceVersion = (await commandOutput(["bpftrace", "--version"])).trim();
  table("");
  table(
    `${ROUNDS} rounds per kind (median [min–max]), ${cpus} CPUs, kernel ${Deno.osRelease()}, ` +
      `Deno ${Deno.version.deno}, ${bpftraceVersion}; crienrich: trace --pod bench -n demo ` +
      `--events KIND -o ${CRIENRICH_OUTPUT}${
        BUFFER_PAGES.length ? ` ${BUFFER_PAGES.join(" ")}` : ""
      } (mount namespace filter); bpftrace: /${bpftraceFilter}/`,
  );
  const byKind: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const mine = results.filter((r) => r.kind === kind.kind);
    const summary = summarize(mine);
    const ratio = ratios(summary);
    byKind[kind.kind] = { summary, ratios: ratio, baseline_storm_wall_ms: baselines[kind.kind] };
    table("");
    table(
      `${kind.kind} storm: ${COUNTS[kind.kind]} ${kind.unit} in pod demo/bench; untraced ` +
        `wall time ${baselines[kind.kind]!.toFixed(0)} ms (noise ±7%)`,
    );
    table(`bpftrace: ${kind.bpftrace(bpftraceFilter)}`);
    table("");
    table(renderTable(summary, ratio));
    for (const note of kind.notes) table(`  ${note}`);
  }
  table("");
  table("CPU = utime+stime of the tracer process (all threads) over the storm window ÷ events");
  table("delivered in it; BPF time = run_time_ns of all its programs over the same window ÷");
  table("events the storm made (the tracepoints run for every task, matching or not).");
  table("Ratios < 1 favour crienrich. Other pod: the same storm in pod demo/idle, not traced.");
  const notes = results.flatMap((r) =>
    r.notes.map((n) => `${r.kind} round ${r.round} ${r.tracer}: ${n}`)
  );
  if (notes.length) table(`notes:\n  ${notes.join("\n  ")}`);

  if (flags.json) {
    console.log(JSON.stringify(
      {
        config: {
          kinds: KINDS.map((k) => k.kind),
          counts: COUNTS,
          rounds: ROUNDS,
          other_pod: [...OTHER_POD_KINDS],
          crienrich_output: CRIENRICH_OUTPUT,
          bpftrace_filter: bpftraceFilter,
          cpus,
          kernel: Deno.osRelease(),
          deno: Deno.version.deno,
          bpftrace: bpftraceVersion,
          clk_tck: ticks,
          cgroup_id: record.cgroup_id,
          mntns_id: record.mntns_id,
        },
        kinds: byKind,
        rounds: results,
      },
      null,
      2,
    ));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  code = abortReason === "SIGINT" || abortReason === "SIGTERM" ? 130 : 1;
} finally {
  clearTimeout(globalTimer);
  // Cleanups must not hang either: each is bounded, and the whole is backstopped.
  const hardExit = setTimeout(() => {
    console.error("bench: cleanup did not finish in 240 s: exiting");
    Deno.exit(1);
  }, 240_000);
  for (const tracer of activeTracers) {
    await tracer.stop(PHASE_MS.stop).catch(() => {});
  }
  for (const { what, run } of cleanups.reverse()) {
    try {
      await deadline(what, 180_000, Promise.resolve().then(run));
    } catch (error) {
      console.error(`bench: cleanup "${what}" failed: ${(error as Error).message}`);
      code ||= 1;
    }
  }
  clearTimeout(hardExit);
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
}
Deno.exit(code);
