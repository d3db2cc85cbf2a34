/**
 * The storm benchmark's figures: one record per tracer per kind per round, their median and
 * range over the rounds, the crienrich/bpftrace ratios, and the side-by-side table.
 *
 * @module
 */

/** What one tracer did in one round. Times in ms unless the name says otherwise. */
export interface TracerResult {
  tracer: "crienrich" | "bpftrace";
  /** The storm's event kind (exec, open, connect). */
  kind: string;
  round: number;
  /** 1 = ran first in its round, 2 = second. */
  position: number;
  spawn_to_attached_ms: number;
  spawn_to_first_event_ms: number | null;
  /** CPU (utime+stime) from spawn to just before the storm: start-up plus the marker. */
  startup_cpu_ms: number;
  /** CPU from just before the storm to just before the stop. */
  storm_cpu_ms: number;
  storm_user_ms: number;
  storm_system_ms: number;
  /** Events of the kind in the output that arrived during the storm window. */
  events_delivered: number;
  /** The storm's own events in the output, whole run (the storm made `made` of them). */
  seen: number;
  /** Events the storm made. */
  made: number;
  lost: number;
  /** crienrich only: events of the summary line. */
  summary: { seen: number; printed: number; lost: number; unresolved: number } | null;
  cpu_ms_per_event: number | null;
  /** User CPU only (the tracer's own code; system time is mostly the kernel's perf reads). */
  user_ms_per_event: number | null;
  /** Same window and events, from per-thread schedstat (ns resolution), in ms. */
  schedstat_cpu_ms_per_event: number | null;
  bpf_runs: number;
  bpf_run_time_ns: number;
  bpf_ns_per_run: number | null;
  /** All its programs' run time over the storm ÷ events made: comparable whatever programs run. */
  bpf_ns_per_made: number | null;
  bpf_programs: { id: number; name: string; runs: number; run_time_ns: number }[];
  peak_rss_kib: number;
  /** Wall time of the storm's ExecSync while this tracer ran. */
  storm_wall_ms: number;
  /** The output stopped growing within the drain deadline after the storm. */
  drained: boolean;
  exit_code: number;
  /** It ignored SIGINT and was SIGKILLed. */
  killed: boolean;
  /**
   * The same storm in another pod right after (its events not selected): the tracer's CPU
   * and BPF run time over it, its events delivered; null when not measured.
   */
  other_pod_cpu_ms: number | null;
  /** other_pod_cpu_ms ÷ storm_cpu_ms: what a storm elsewhere costs, against a traced one. */
  other_pod_cpu_share: number | null;
  other_pod_bpf_ns_per_made: number | null;
  other_pod_events: number | null;
  /** Notes: anything that makes this round's figures suspect. */
  notes: string[];
}

/** Median and range of one figure over the rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for an even count), min and max; null when no values. */
export function spread(values: (number | null)[]): Spread | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) =>
    a - b
  );
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** One row of the table: a figure, how to show it, whether lower is the aim. */
interface Row {
  label: string;
  key: keyof TracerResult;
  digits: number;
  scale?: number;
  ratio?: boolean;
}

const ROWS: Row[] = [
  {
    label: "CPU per event (µs, utime+stime)",
    key: "cpu_ms_per_event",
    digits: 1,
    scale: 1000,
    ratio: true,
  },
  {
    label: "  same, from schedstat (µs)",
    key: "schedstat_cpu_ms_per_event",
    digits: 1,
    scale: 1000,
    ratio: true,
  },
  {
    label: "user CPU per event (µs)",
    key: "user_ms_per_event",
    digits: 1,
    scale: 1000,
    ratio: true,
  },
  { label: "BPF run time per run (ns)", key: "bpf_ns_per_run", digits: 0, ratio: true },
  { label: "BPF time per event made (ns)", key: "bpf_ns_per_made", digits: 0, ratio: true },
  { label: "storm CPU (ms)", key: "storm_cpu_ms", digits: 0, ratio: true },
  { label: "  of which user (ms)", key: "storm_user_ms", digits: 0 },
  { label: "  of which system (ms)", key: "storm_system_ms", digits: 0 },
  { label: "start-up CPU (ms)", key: "startup_cpu_ms", digits: 0, ratio: true },
  { label: "events delivered (storm)", key: "events_delivered", digits: 0 },
  { label: "storm's events seen (of made)", key: "seen", digits: 0 },
  { label: "events made", key: "made", digits: 0 },
  { label: "lost", key: "lost", digits: 0 },
  { label: "BPF program runs (storm)", key: "bpf_runs", digits: 0 },
  { label: "spawn → attached (ms)", key: "spawn_to_attached_ms", digits: 0, ratio: true },
  { label: "spawn → first event (ms)", key: "spawn_to_first_event_ms", digits: 0, ratio: true },
  { label: "peak RSS (MiB)", key: "peak_rss_kib", digits: 1, scale: 1 / 1024, ratio: true },
  { label: "storm wall time (ms)", key: "storm_wall_ms", digits: 0 },
  { label: "other pod's storm: CPU (ms)", key: "other_pod_cpu_ms", digits: 0, ratio: true },
  {
    label: "  ÷ traced storm's CPU (%)",
    key: "other_pod_cpu_share",
    digits: 1,
    scale: 100,
    ratio: true,
  },
  {
    label: "  BPF time per event made (ns)",
    key: "other_pod_bpf_ns_per_made",
    digits: 0,
    ratio: true,
  },
  { label: "  events delivered", key: "other_pod_events", digits: 0 },
];

/** Per tracer, per figure: median and range over the rounds. */
export type Summary = Record<"crienrich" | "bpftrace", Record<string, Spread | null>>;

/** Figures of every round (of one kind) folded into medians and ranges. */
export function summarize(results: TracerResult[]): Summary {
  const summary: Summary = { crienrich: {}, bpftrace: {} };
  for (const tracer of ["crienrich", "bpftrace"] as const) {
    const mine = results.filter((r) => r.tracer === tracer);
    for (const row of ROWS) {
      summary[tracer][row.key] = spread(mine.map((r) => r[row.key] as number | null));
    }
  }
  return summary;
}

/** crienrich ÷ bpftrace of the medians, for the figures where lower is better. */
export function ratios(summary: Summary): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const row of ROWS.filter((r) => r.ratio)) {
    const c = summary.crienrich[row.key]?.median;
    const b = summary.bpftrace[row.key]?.median;
    out[row.key] = c === undefined || b === undefined || b === 0 ? null : c / b;
  }
  return out;
}

function show(s: Spread | null | undefined, row: Row): string {
  if (!s) return "n/a";
  const f = (x: number) => (x * (row.scale ?? 1)).toFixed(row.digits);
  return s.n > 1 ? `${f(s.median)} [${f(s.min)}–${f(s.max)}]` : f(s.median);
}

/**
 * The side-by-side table: median [min–max] per tracer, and the ratio of the medians. Rows
 * no round measured (the other pod's storm, when not run) are left out.
 */
export function renderTable(summary: Summary, ratio: Record<string, number | null>): string {
  const lines: string[][] = [["figure", "crienrich", "bpftrace", "crienrich/bpftrace"]];
  for (const row of ROWS) {
    if (!summary.crienrich[row.key] && !summary.bpftrace[row.key]) continue;
    const r = ratio[row.key];
    lines.push([
      row.label,
      show(summary.crienrich[row.key], row),
      show(summary.bpftrace[row.key], row),
      r === undefined ? "" : r === null ? "n/a" : r.toFixed(2),
    ]);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => [...l[i]!].length)));
  return lines.map((l) =>
    l.map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length)).join("   ").trimEnd()
  ).join("\n");
}
