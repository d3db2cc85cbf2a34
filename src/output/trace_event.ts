/**
 * How a trace event is printed: the NDJSON object (a contract for scripts, documented in the
 * README "Trace events") and the table columns, declared once for the table and `--help`.
 *
 * @module
 */
import type { ProcessEvent } from "../bpf/event.ts";
import type { EnrichedEvent } from "../enrich/pipeline.ts";
import { nsToRfc3339 } from "../runtime/record.ts";
import type { Column } from "./table.ts";

/** A trace event ready to print: the enriched event plus its wall-clock time. */
export interface TimedEvent extends EnrichedEvent {
  /** Wall-clock time of the event, ns since the Unix epoch. */
  timeNs: bigint;
}

/** Signal names for exit events (x86-64 numbering, signal(7)). */
const SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
];

function processJson(event: ProcessEvent): Record<string, unknown> {
  const common = {
    pid: event.pid,
    ppid: event.ppid,
    uid: event.uid,
    gid: event.gid,
    comm: event.comm,
  };
  if (event.type === "exec") {
    return {
      ...common,
      binary: event.binary,
      args: event.args,
      args_truncated: event.argsTruncated,
    };
  }
  return {
    ...common,
    exit_code: event.exitCode,
    signal: event.signal,
    duration_ns: Number(event.durationNs),
  };
}

/**
 * The NDJSON object of one event. `container` and `pod` are null for host processes and
 * for events whose container could not be resolved in time (`unresolved: true`).
 */
export function traceEventJson(timed: TimedEvent, node: string): Record<string, unknown> {
  const { event, record } = timed;
  return {
    time: nsToRfc3339(timed.timeNs),
    type: event.type,
    node,
    process: processJson(event),
    container: record
      ? {
        id: record.id,
        name: record.name,
        image: record.image,
        image_id: record.image_id,
        runtime: record.runtime,
        compose: record.compose,
      }
      : null,
    pod: timed.pod
      ? {
        name: timed.pod.name,
        namespace: timed.pod.namespace,
        uid: timed.pod.uid,
        labels: timed.pod.labels,
      }
      : null,
    pod_sandbox: timed.sandbox,
    unresolved: timed.unresolved,
    cgroup_id: Number(event.cgroupId),
    mntns_id: Number(event.mntnsId),
  };
}

/** The NDJSON object reporting samples the kernel dropped. */
export function lostEventJson(
  timeNs: bigint,
  node: string,
  cpu: number,
  count: number,
): Record<string, unknown> {
  return { time: nsToRfc3339(timeNs), type: "lost", node, cpu, lost: count };
}

/** Human text of an exit: "exit 3 after 1.25 s" or "killed by SIGKILL after 20 ms". */
export function describeExit(exitCode: number, signal: number, durationNs: bigint): string {
  const ms = Number(durationNs) / 1e6;
  const duration = ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
  const how = signal !== 0
    ? `killed by ${SIGNALS[signal] ?? `signal ${signal}`}`
    : `exit ${exitCode}`;
  return `[${how} after ${duration}]`;
}

/**
 * A pod's field, or `?` when unresolved, `-` for a container outside any pod, `<host>` for
 * no container's.
 */
const podField = (t: TimedEvent, value: (p: NonNullable<TimedEvent["pod"]>) => string) =>
  t.pod ? value(t.pod) : t.unresolved ? "?" : t.record ? "-" : "<host>";

/** The container's name, `<sandbox>` for the pod sandbox's own processes. */
const containerName = (t: TimedEvent) =>
  t.record ? t.record.name : t.sandbox ? "<sandbox>" : t.unresolved ? "?" : "<host>";

/** Table columns of `trace`. */
export const TRACE_COLUMNS: readonly Column<TimedEvent>[] = [
  {
    header: "TIME",
    description: "wall-clock time of the event, UTC (HH:MM:SS.mmm)",
    value: (t) => nsToRfc3339(t.timeNs).slice(11, 23),
    width: 12,
  },
  {
    header: "NAMESPACE",
    description: "pod namespace (<host> outside containers, ? when unresolved)",
    value: (t) => podField(t, (p) => p.namespace),
    width: 16,
  },
  { header: "POD", description: "pod name", value: (t) => podField(t, (p) => p.name), width: 24 },
  {
    header: "CONTAINER",
    description: "container name (<sandbox> for the pod sandbox's own processes)",
    value: containerName,
    width: 16,
  },
  {
    header: "PID",
    description: "process id (host pid namespace)",
    value: (t) => String(t.event.pid),
    width: 7,
  },
  {
    header: "PPID",
    description: "parent's process id",
    value: (t) => String(t.event.ppid),
    width: 7,
  },
  {
    header: "COMM",
    description: "task name (15 bytes at most)",
    value: (t) => t.event.comm,
    width: 15,
  },
  {
    header: "ARGS",
    description: "exec: argv (… when cut at 1024 bytes); exit: [exit code or signal, lifetime]",
    value: (t) =>
      t.event.type === "exec"
        ? t.event.args.join(" ") + (t.event.argsTruncated ? " …" : "")
        : describeExit(t.event.exitCode, t.event.signal, t.event.durationNs),
  },
];

/**
 * True when an exec matches a `--until-exec` pattern: its binary path, its `argv[0]`, or the
 * binary's base name equals the pattern, which may be a glob (`*` and `?` within one path
 * segment, `[abc]` classes). Text inside the arguments never matches: see
 * {@linkcode execArgsContain}.
 *
 * @example execMatches(exec("/bin/sh", ["/bin/sh", "-c", "/bin/hostname"]), "/bin/hostname") // false
 */
export function execMatches(event: ProcessEvent, pattern: string | RegExp): boolean {
  if (event.type !== "exec") return false;
  const glob = typeof pattern === "string" ? globToRegExp(pattern) : pattern;
  const base = event.binary.slice(event.binary.lastIndexOf("/") + 1);
  return glob.test(event.binary) || glob.test(event.args[0] ?? "") || glob.test(base);
}

/** True when an exec's command line (argv joined by spaces) contains `text` (`--until-args`). */
export function execArgsContain(event: ProcessEvent, text: string): boolean {
  return event.type === "exec" && event.args.join(" ").includes(text);
}

/**
 * Compiles a shell-style glob into an anchored regular expression: `*` is any run of
 * characters but `/`, `?` one such character, `[...]` a class (`[!...]` negated); anything
 * else, and a `[` without its `]`, is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[" && glob.indexOf("]", i + 2) !== -1) {
      const end = glob.indexOf("]", i + 2);
      const body = glob.slice(i + 1, end);
      const negated = body.startsWith("!");
      const members = (negated ? body.slice(1) : body).replace(/[\\\]^]/g, "\\$&");
      source += `[${negated ? "^" : ""}${members}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
