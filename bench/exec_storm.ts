// deno-lint-ignore-file no-console
/**
 * Exec-storm benchmark: crienrich against bpftrace on the same workload, in one run.
 *
 * A private lab containerd runs pod `demo/bench` (a sleeping container) and an idle pod.
 * Each round traces an exec storm in the bench pod (N execs of /bin/true from a busybox
 * shell loop, run through CRI ExecSync) with each tracer in turn, both filtering in the
 * kernel to that one container: crienrich by mount namespace (`trace --pod bench`), bpftrace
 * by cgroup v2 id. It reports, per tracer: CPU of the tracer process per delivered event,
 * BPF run time per program run, events seen and lost, spawn → attached and spawn → first
 * event, and peak RSS; median and range over the rounds, and crienrich/bpftrace ratios.
 *
 * A benchmark, not a test: it judges nothing and exits 0 whenever it could measure.
 * Needs root, containerd, runc, busybox-static, bpftool, bpftrace. See bench/README.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Lab } from "../scripts/lab/lab.ts";
import { CriClient } from "../src/runtime/cri_client.ts";
import {
  bpfProgramIds,
  type BpfProgramStats,
  bpfProgramStats,
  BpfStatsSwitch,
  clockTicksPerSecond,
  readCpu,
  readPeakRssKib,
  readSchedstatNs,
} from "./proc_stats.ts";
import { ratios, renderTable, summarize, type TracerResult } from "./report.ts";
import { deadline, sleep, TracerProcess, type TracerSpec } from "./tracer_process.ts";

const HELP = `Usage: deno task bench [--execs N] [--rounds R] [--json] [--drain-ms MS]
                       [--crienrich-output json|table] [--keep]

Exec storm in a lab pod, traced by crienrich and by bpftrace in turn (as root).
  --execs N            execs of /bin/true per storm (default 3000)
  --rounds R           rounds, alternating which tracer goes first (default 3)
  --json               stdout gets one JSON document; the table goes to stderr
  --drain-ms MS        output quiet this long after the storm = drained (default 500)
  --crienrich-output F crienrich's -o: json (default, as specified) or table
  --keep               keep the tracers' output files (their directory is printed)`;

const repo = fileURLToPath(new URL("..", import.meta.url));
const containerdScript = fileURLToPath(new URL("../scripts/lab/containerd.sh", import.meta.url));
const MARKER = "/bin/uname"; // exec'd once per tracer to time the first event; not in the storm

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    execs: { type: "string", default: "3000" },
    rounds: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    "drain-ms": { type: "string", default: "500" },
    "crienrich-output": { type: "string", default: "json" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (flags.help) {
  console.log(HELP);
  Deno.exit(0);
}
const positive = (text: string, flag: string) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n <= 0) {
    console.error(`Invalid ${flag} "${text}": expected a positive integer`);
    Deno.exit(2);
  }
  return n;
};
const EXECS = positive(flags.execs, "--execs");
const ROUNDS = positive(flags.rounds, "--rounds");
const DRAIN_MS = positive(flags["drain-ms"], "--drain-ms");
const CRIENRICH_OUTPUT = flags["crienrich-output"];
if (CRIENRICH_OUTPUT !== "json" && CRIENRICH_OUTPUT !== "table") {
  console.error(`Invalid --crienrich-output "${CRIENRICH_OUTPUT}": expected json or table`);
  Deno.exit(2);
}
// The table goes where the JSON does not.
const table = flags.json ? console.error : console.log;
const log = (line: string) => console.error(`bench: ${line}`);

// Per-phase deadlines, in ms. The storm's scales with its size (~1-3 ms per exec here).
const STORM_TIMEOUT_MS = 60_000 + EXECS * 20;
const PHASE_MS = { lab: 180_000, pod: 60_000, attach: 90_000, marker: 20_000, stop: 15_000 };
const GLOBAL_TIMEOUT_MS = 300_000 + ROUNDS * 2 * (STORM_TIMEOUT_MS + 120_000) + STORM_TIMEOUT_MS;

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

/** Counts of one tracer's output. */
interface OutputCounts {
  execEvents: number;
  trueEvents: number;
  markerEvents: number;
  lost: number;
}

const TRUE_ARGS = "/bin/true";

function countCrienrichJson(text: string): OutputCounts {
  const counts: OutputCounts = { execEvents: 0, trueEvents: 0, markerEvents: 0, lost: 0 };
  for (const line of text.split("\n")) {
    if (!line) continue;
    let event: { type?: string; lost?: number; process?: { args?: string[] } };
    try {
      event = JSON.parse(line);
    } catch {
      continue; // A line cut by a concurrent read.
    }
    if (event.type === "lost") counts.lost += event.lost ?? 0;
    if (event.type !== "exec") continue;
    counts.execEvents++;
    const args = (event.process?.args ?? []).join(" ");
    if (args === TRUE_ARGS) counts.trueEvents++;
    if (args.startsWith(MARKER)) counts.markerEvents++;
  }
  return counts;
}

function countCrienrichTable(text: string): OutputCounts {
  const counts: OutputCounts = { execEvents: 0, trueEvents: 0, markerEvents: 0, lost: 0 };
  for (const line of text.split("\n").slice(1)) {
    if (!line || line.endsWith("]")) continue; // exit rows end with "[exit ...]"
    counts.execEvents++;
    if (line.endsWith(` ${TRUE_ARGS}`)) counts.trueEvents++;
    if (line.includes(` ${MARKER}`)) counts.markerEvents++;
  }
  return counts;
}

function countBpftrace(text: string): OutputCounts {
  const counts: OutputCounts = { execEvents: 0, trueEvents: 0, markerEvents: 0, lost: 0 };
  for (const line of text.split("\n")) {
    const lost = /^Lost (\d+) events/.exec(line);
    if (lost) {
      counts.lost += Number(lost[1]);
      continue;
    }
    const event = /^(\d+) (.*) (\S+)$/.exec(line);
    if (!event) continue;
    counts.execEvents++;
    if (event[3] === TRUE_ARGS) counts.trueEvents++;
    if (event[3] === MARKER) counts.markerEvents++;
  }
  return counts;
}

interface Contender {
  name: "crienrich" | "bpftrace";
  spec: TracerSpec;
  count: (text: string) => OutputCounts;
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
  await phase("start container idle", PHASE_MS.pod, lab.runContainer(idle, "idle"));
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

  const stormClient = new CriClient(lab.socket, { timeoutMs: STORM_TIMEOUT_MS });
  cleanups.push({ what: "close CRI client", run: () => stormClient.close() });
  const storm = async (execs: number): Promise<number> => {
    const script = `i=0; while [ $i -lt ${execs} ]; do /bin/true; i=$((i+1)); done`;
    const started = performance.now();
    const response = await phase(
      `exec storm of ${execs}`,
      STORM_TIMEOUT_MS + 5000,
      stormClient.call<{ exitCode: number; stderr: Uint8Array }>("RuntimeService", "ExecSync", {
        containerId: app,
        cmd: ["/bin/sh", "-c", script],
        timeout: Math.ceil(STORM_TIMEOUT_MS / 1000),
      }),
    );
    if (response.exitCode !== 0) {
      throw new Error(
        `Exec storm exited ${response.exitCode}: ${new TextDecoder().decode(response.stderr)}`,
      );
    }
    return performance.now() - started;
  };

  // bpftrace's cgroup filter: checked once (if this bpftrace cannot filter on the cgroup v2
  // id, fall back to comm and say so). Also warms bpftrace's start-up like `ps` warmed Deno.
  const bpftraceProgram = (filter: string) =>
    `tracepoint:sched:sched_process_exec /${filter}/ { printf("%d %s %s\\n", pid, comm, str(args->filename)); }`;
  let bpftraceFilter = `cgroup == ${record.cgroup_id}`;
  const bpftraceSpec = (filter: string): TracerSpec => ({
    name: "bpftrace",
    command: ["bpftrace", "-e", bpftraceProgram(filter)],
    attached: { stream: "stdout", pattern: /^Attaching \d+ probes?\.\.\./m },
  });
  {
    const check = TracerProcess.spawn(
      bpftraceSpec(bpftraceFilter),
      `${workDir}/bpftrace-check.out`,
    );
    activeTracers.add(check);
    try {
      await phase(
        "bpftrace to attach (filter check)",
        PHASE_MS.attach,
        check.waitAttached(PHASE_MS.attach),
      );
      await phase("marker exec", PHASE_MS.marker, currentLab.exec(app, [MARKER, "-n"]));
      await phase("bpftrace filter check", PHASE_MS.marker, check.waitOutput(MARKER, 5000)).catch(
        () => {
          log(
            `bpftrace did not see the marker with "${bpftraceFilter}": falling back to a comm filter`,
          );
          bpftraceFilter = `comm == "true" || comm == "uname"`;
        },
      );
    } finally {
      await check.stop(PHASE_MS.stop);
      activeTracers.delete(check);
    }
    log(`bpftrace filter: ${bpftraceFilter}`);
  }

  const contenders: Record<"crienrich" | "bpftrace", Contender> = {
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
          "exec",
          "-o",
          CRIENRICH_OUTPUT,
          "--duration",
          `${Math.ceil(GLOBAL_TIMEOUT_MS / 1000)}s`,
        ],
        env: labEnv,
        cwd: repo,
        attached: { stream: "stderr", pattern: /^crienrich: tracing / },
      },
      count: CRIENRICH_OUTPUT === "json" ? countCrienrichJson : countCrienrichTable,
    },
    bpftrace: { name: "bpftrace", spec: bpftraceSpec(bpftraceFilter), count: countBpftrace },
  };

  // Warm-up storm, then the untraced baseline (wall time only).
  await storm(Math.min(EXECS, 300));
  const baselineMs = await storm(EXECS);
  log(`untraced storm of ${EXECS} execs: ${baselineMs.toFixed(0)} ms`);

  const measure = async (c: Contender, round: number, position: number): Promise<TracerResult> => {
    const notes: string[] = [];
    const tracer = TracerProcess.spawn(c.spec, `${workDir}/${c.name}-${round}.out`);
    activeTracers.add(tracer);
    try {
      const attachedAt = await phase(
        `${c.name} to attach`,
        PHASE_MS.attach,
        tracer.waitAttached(PHASE_MS.attach),
      );
      // One marker exec as soon as it says it is attached: spawn → first event.
      await phase("marker exec", PHASE_MS.marker, currentLab.exec(app, [MARKER, "-n"]));
      let firstEventAt: number | null = null;
      try {
        firstEventAt = await phase(
          `${c.name} marker event`,
          PHASE_MS.marker,
          tracer.waitOutput(MARKER, 10_000),
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

      const stormMs = await storm(EXECS);
      const drained = await phase("drain", 30_000, tracer.waitQuiet(DRAIN_MS, 20_000));
      if (!drained) notes.push("output still growing 20 s after the storm");

      // Just before stopping: BPF counters, CPU, peak RSS.
      if (!stats.ensure()) notes.push("kernel.bpf_stats_enabled was turned off by someone else");
      const bpf1 = await phase("bpftool prog show", 30_000, bpfProgramStats(ids));
      const cpu1 = readCpu(tracer.pid, ticks);
      const sched1 = readSchedstatNs(tracer.pid);
      const peakRss = readPeakRssKib(tracer.pid);
      const { status, killed } = await tracer.stop(PHASE_MS.stop);
      if (killed) notes.push("did not exit on SIGINT: killed");

      const after = c.count(tracer.output());
      let summary: TracerResult["summary"] = null;
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
        } else notes.push(`no summary line on stderr: ${tracer.stderrTail()}`);
      } else {
        // bpftrace reports drops as "Lost N events" (stdout here, stderr in some versions).
        for (const l of tracer.stderrLines) {
          const m = /Lost (\d+) events/.exec(l);
          if (m) after.lost += Number(m[1]);
        }
      }
      const delivered = after.execEvents - before.execEvents;
      const programs = bpf1.map((p1) => {
        const p0 = bpf0.find((p) => p.id === p1.id) ??
          ({ runCount: 0, runTimeNs: 0 } as BpfProgramStats);
        return {
          id: p1.id,
          name: p1.name,
          runs: p1.runCount - p0.runCount,
          run_time_ns: p1.runTimeNs - p0.runTimeNs,
        };
      });
      const runs = programs.reduce((s, p) => s + p.runs, 0);
      const runTime = programs.reduce((s, p) => s + p.run_time_ns, 0);
      const stormCpu = cpu1.totalMs - cpu0.totalMs;
      if (after.trueEvents !== EXECS) {
        notes.push(`saw ${after.trueEvents} of ${EXECS} /bin/true execs`);
      }
      return {
        tracer: c.name,
        round,
        position,
        spawn_to_attached_ms: attachedAt - tracer.spawnedAt,
        spawn_to_first_event_ms: firstEventAt === null ? null : firstEventAt - tracer.spawnedAt,
        startup_cpu_ms: cpu0.totalMs,
        storm_cpu_ms: stormCpu,
        storm_user_ms: cpu1.userMs - cpu0.userMs,
        storm_system_ms: cpu1.systemMs - cpu0.systemMs,
        events_delivered: delivered,
        true_events: after.trueEvents,
        execs: EXECS,
        lost: summary?.lost ?? after.lost,
        summary,
        cpu_ms_per_event: delivered > 0 ? stormCpu / delivered : null,
        schedstat_cpu_ms_per_event: delivered > 0 ? (sched1 - sched0) / 1e6 / delivered : null,
        bpf_runs: runs,
        bpf_run_time_ns: runTime,
        bpf_ns_per_run: runs > 0 ? runTime / runs : null,
        // crienrich's exit program always runs (it drops verdicts of ended namespaces), so a
        // per-run average mixes exec and exit runs; per exec made compares like with like.
        bpf_ns_per_exec: EXECS > 0 ? runTime / EXECS : null,
        bpf_programs: programs,
        peak_rss_kib: peakRss,
        storm_wall_ms: stormMs,
        drained,
        exit_code: status.code,
        killed,
        notes,
      };
    } finally {
      await tracer.stop(PHASE_MS.stop);
      activeTracers.delete(tracer);
    }
  };

  const results: TracerResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1
      ? ["crienrich", "bpftrace"] as const
      : ["bpftrace", "crienrich"] as const;
    for (const [i, name] of order.entries()) {
      const r = await measure(contenders[name], round, i + 1);
      results.push(r);
      log(
        `round ${round} ${name}: ${
          ((r.cpu_ms_per_event ?? NaN) * 1000).toFixed(1)
        } µs CPU/event, ` +
          `${r.bpf_ns_per_run?.toFixed(0) ?? "n/a"} ns/BPF run, ${r.true_events}/${EXECS} seen, ` +
          `${r.lost} lost, first event ${r.spawn_to_first_event_ms?.toFixed(0) ?? "n/a"} ms` +
          (r.notes.length ? ` (${r.notes.join("; ")})` : ""),
      );
      await sleep(500); // let the machine settle between tracers
    }
  }

  const summary = summarize(results);
  const ratio = ratios(summary);
  const cpus = navigator.hardwareConcurrency;
  const bpftraceVersion = (await commandOutput(["bpftrace", "--version"])).trim();
  table("");
  table(
    `exec storm: ${EXECS} × /bin/true in pod demo/bench, ${ROUNDS} rounds (median [min–max]), ` +
      `${cpus} CPUs, kernel ${Deno.osRelease()}, Deno ${Deno.version.deno}, ${bpftraceVersion}`,
  );
  table(
    `crienrich: trace --pod bench -n demo --events exec -o ${CRIENRICH_OUTPUT} (mount namespace filter)`,
  );
  table(
    `bpftrace:  tracepoint:sched:sched_process_exec /${bpftraceFilter}/ printf pid comm filename`,
  );
  table(`untraced storm wall time (baseline, noise ±7%): ${baselineMs.toFixed(0)} ms`);
  table("");
  table(renderTable(summary, ratio));
  table("");
  table("CPU = utime+stime of the tracer process (all threads) over the storm window ÷ events");
  table("delivered in it; BPF figures = run_time_ns/run_cnt of its programs over the same window");
  table("(each run of the tracepoint, matching or not). Ratios < 1 favour crienrich.");
  const notes = results.flatMap((r) => r.notes.map((n) => `round ${r.round} ${r.tracer}: ${n}`));
  if (notes.length) table(`notes:\n  ${notes.join("\n  ")}`);

  if (flags.json) {
    console.log(JSON.stringify(
      {
        config: {
          execs: EXECS,
          rounds: ROUNDS,
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
        baseline_storm_wall_ms: baselineMs,
        summary,
        ratios: ratio,
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
