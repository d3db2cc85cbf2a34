/**
 * `crienrich trace`: live exec, exit, TCP and open events of the selected pods' processes,
 * each enriched with its pod, namespace, container, image and labels.
 *
 * @module
 */
import { hostname } from "node:os";
import {
  errorMessage,
  ExitCode,
  NotFoundError,
  PermissionError,
  RuntimeUnavailableError,
  UsageError,
  WaitTimeoutError,
} from "../errors.ts";
import { missingTraceCapabilities, ownCapEff } from "../runtime/capabilities.ts";
import { describeColumns, renderStreamRow } from "../output/table.ts";
import {
  lostEventJson,
  type TimedEvent,
  TRACE_COLUMNS,
  traceEventLine,
} from "../output/trace_event.ts";
import type { ProcessTracer, TraceEvent } from "../bpf/mod.ts";
import { procShowsInitialPidNamespace } from "../runtime/pid_namespace.ts";
import { join } from "node:path";
import {
  connectMatches,
  execArgsContain,
  execMatches,
  globToRegExp,
  openMatches,
  parseConnectTarget,
} from "../trace/until.ts";
import { selectsEverything } from "../runtime/selector.ts";
import { openSessionTracer, runTraceSession, type TraceSummary } from "../trace/session.ts";
import {
  GLOBAL_HELP,
  parseCommandArgs,
  parseDurationMs,
  parseEventKinds,
  parseOutputFormat,
} from "./options.ts";
import { SELECTOR_OPTIONS, selectorFromValues, selectorText } from "./ps.ts";
import { openRuntime } from "./context.ts";
import type { CommandIO } from "./io.ts";

const HELP =
  `Usage: crienrich trace [--pod P] [-n NS] [--container C] [-l key=value]... [--all] [--host]
                       [--events KINDS] [-o table|json] [--count N] [--duration D]
                       [--until-exec PATTERN] [--until-args TEXT] [--until-connect ADDR:PORT]
                       [--until-open PATTERN] [--runtime-helpers]
                       [--buffer-pages N] [--resolve-wait D] [--libbpf PATH]

Prints every process that starts (exec) or ends (exit) in the selected containers, and on
request their TCP connections and file opens, joined in-process with their pod. The kernel filters by mount namespace, so unselected containers cost
nothing. Containers that start during the trace are traced from their first process; a pod
that does not exist yet is waited for. Stops on Ctrl-C, SIGTERM, SIGHUP, --count or
--duration, and prints a summary on stderr. Under a named selection only events proven to be
its own are printed; a selection that matched nothing during the whole trace exits 5.

Selection (ANDed; one of them, --all or --host is required):
      --pod P            pod name
  -n, --namespace NS     pod namespace
      --container C      container name
  -l, --label K=V        pod or container label, repeatable
      --all              every container
      --host             also processes outside any container

Output and stopping:
      --events KINDS     comma-separated: exec, exit (default exec,exit), connect (an outgoing
                         TCP attempt's outcome), accept (an incoming TCP connection accepted),
                         close (a connection's end), open (openat/openat2 and its result)
  -o, --output F         table (default) or json (NDJSON, README "Trace events")
      --count N          stop after N printed events
      --duration D       stop after D (e.g. 30s)
      --until-exec PAT   stop at the first exec whose binary path, argv[0] or binary base
                         name equals PAT (a glob: *, ?, [..]): exit code 0 when seen, 7 when
                         --duration (or Ctrl-C) ends the trace first
      --until-args TEXT  the same, for the first exec whose command line contains TEXT
      --until-connect A:P  the same, for the first connect established to address A (IPv4,
                         [IPv6] or * for any) and port P (needs --events with connect)
      --until-open PAT   the same, for the first successful open of a path matching PAT (a
                         glob, on the path as the process passed it; needs open events)
      --runtime-helpers  also print the exits of runc's setup tasks (runc:[1:CHILD], ...)
      --buffer-pages N   perf buffer size per CPU in 4 KiB pages, a power of two from 1 to
                         4096 (16 MiB; default 64)
      --resolve-wait D   how long an event of a new container waits for its pod (default 2s)
      --libbpf PATH      libbpf shared object to load (default: libbpf.so.1 from the system)

Columns:
${describeColumns(TRACE_COLUMNS)}

${GLOBAL_HELP}`;

/** Runs `crienrich trace`. Returns the exit code. @throws {CliError} */
export async function runTrace(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, global } = parseCommandArgs("trace", args, {
    ...SELECTOR_OPTIONS,
    all: { type: "boolean" },
    host: { type: "boolean" },
    events: { type: "string" },
    output: { type: "string", short: "o" },
    count: { type: "string" },
    duration: { type: "string" },
    "until-exec": { type: "string" },
    "until-args": { type: "string" },
    "until-connect": { type: "string" },
    "until-open": { type: "string" },
    "runtime-helpers": { type: "boolean" },
    "buffer-pages": { type: "string" },
    "resolve-wait": { type: "string" },
    libbpf: { type: "string" },
  });
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  const format = parseOutputFormat(values.output, ["table", "json"] as const, "table");
  const selector = selectorFromValues(values);
  const named = !selectsEverything(selector);
  if (named && values.all) {
    throw new UsageError("--all cannot be combined with --pod, -n, --container or -l");
  }
  if (!named && !values.all && !values.host) {
    throw new UsageError(
      'Nothing selected: name a pod (--pod), namespace (-n), container (--container), label (-l), or use --all or --host (see "crienrich trace --help")',
    );
  }
  const events = parseEventKinds(values.events);
  const count = values.count === undefined ? undefined : positiveInteger(values.count, "--count");
  const pages = values["buffer-pages"] === undefined
    ? undefined
    : positiveInteger(values["buffer-pages"], "--buffer-pages", MAX_BUFFER_PAGES);
  if (pages !== undefined && (pages & (pages - 1)) !== 0) {
    throw new UsageError(`Invalid --buffer-pages "${pages}": must be a power of two`);
  }
  const durationMs = values.duration === undefined
    ? undefined
    : parseDurationMs(values.duration, "--duration");
  const resolveWaitMs = values["resolve-wait"] === undefined
    ? 2000
    : parseDurationMs(values["resolve-wait"], "--resolve-wait");
  const untilExec = values["until-exec"];
  const untilArgs = values["until-args"];
  const untilConnect = values["until-connect"];
  const untilOpen = values["until-open"];
  const gates = [
    ["--until-exec", untilExec, "exec"],
    ["--until-args", untilArgs, "exec"],
    ["--until-connect", untilConnect, "connect"],
    ["--until-open", untilOpen, "open"],
  ] as const;
  for (const [flag, value, kind] of gates) {
    if (value === undefined) continue;
    if (value === "") throw new UsageError(`Invalid ${flag} "": expected a non-empty pattern`);
    if (!events.has(kind)) {
      throw new UsageError(`${flag} needs ${kind} events (--events with ${kind})`);
    }
  }
  let connectTarget: ReturnType<typeof parseConnectTarget> | undefined;
  try {
    if (untilConnect !== undefined) connectTarget = parseConnectTarget(untilConnect);
  } catch (error) {
    throw new UsageError(`Invalid --until-connect "${untilConnect}": ${errorMessage(error)}`);
  }
  const untilExecGlob = untilExec === undefined ? undefined : globToRegExp(untilExec);
  const untilOpenGlob = untilOpen === undefined ? undefined : globToRegExp(untilOpen);
  const gated = gates.some(([, value]) => value !== undefined);
  const awaited = (event: TraceEvent) =>
    (untilExecGlob !== undefined && execMatches(event, untilExecGlob)) ||
    (untilArgs !== undefined && execArgsContain(event, untilArgs)) ||
    (connectTarget !== undefined && connectMatches(event, connectTarget)) ||
    (untilOpenGlob !== undefined && openMatches(event, untilOpenGlob));

  const missing = missingTraceCapabilities(ownCapEff());
  if (missing.length > 0) {
    throw new PermissionError(
      `Cannot trace: this process lacks ${
        missing.join("; ")
      }: run as root, or grant those capabilities`,
    );
  }
  // Listened to from before start-up: a stop while the runtimes are discovered or the
  // programs load ends the trace as soon as it has started (its summary, its exit code), not
  // crienrich at once without a word, and is not lost when the shell that started crienrich
  // in the background ignores SIGINT. A closed terminal or a dropped SSH session (SIGHUP)
  // ends the trace like Ctrl-C.
  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, onSignal);
  try {
    const node = Deno.env.get("NODE_NAME") || hostname();
    const tracerSetup = {
      events,
      includeHost: values.host === true,
      ...(pages ? { perCpuBufferPages: pages } : {}),
      ...(values.libbpf ? { libbpfPath: values.libbpf } : {}),
      ...(global.hostRoot ? { hostRoot: global.hostRoot } : {}),
    };
    // Seen from the host's PID namespace, the tracer needs nothing from the runtimes: its
    // object loads (~70 ms, mostly CO-RE against the kernel BTF) while they are discovered,
    // and attaches after.
    const hostPidView = await procShowsInitialPidNamespace(join(global.hostRoot ?? "/", "proc"))
      .catch(() => false);
    const opening = openRuntime(global, io.diagnostics);
    const early = hostPidView
      ? openSessionTracer({ ...tracerSetup, attachWhen: opening })
      : undefined;
    // Awaited below; handled now, so that it failing first is not "uncaught".
    early?.catch(() => {});
    // `pidNamespace` is `host`, or `node` with the inode and dev of the node container's PID
    // namespace that the tracer reports pids in; a `blind` one has already stopped here.
    let opened: Awaited<typeof opening>;
    try {
      opened = await opening;
    } catch (error) {
      // The tracer releases everything when `opening` fails; wait for it to have done so.
      await early?.catch(() => {});
      throw error;
    }
    const { runtime, pidNamespace } = opened;
    let tracer: ProcessTracer;
    try {
      tracer = early && pidNamespace.kind === "host" ? await early : await openSessionTracer({
        ...tracerSetup,
        ...(pidNamespace.kind === "node"
          ? { pidNamespaceInode: Number(pidNamespace.pidnsInode) }
          : {}),
      });
    } catch (error) {
      runtime.close();
      throw error;
    }
    let waiting = false;
    let printed = 0;
    let matched = false;
    try {
      const summary = await runTraceSession({
        tracer,
        runtime,
        selector: named || values.all ? selector : null,
        includeHost: values.host === true,
        printUnresolved: !named,
        showRuntimeHelpers: values["runtime-helpers"] === true,
        onSelectionSeen: (entry) => {
          if (!waiting) return;
          const what = entry.record ? `container "${entry.record.name}"` : "its pod sandbox";
          io.diagnostics(
            `crienrich: ${selectorText(selector)} appeared: ${what}${
              entry.pod ? ` in pod ${entry.pod.namespace}/${entry.pod.name}` : ""
            }`,
          );
        },
        events,
        ...(global.hostRoot ? { hostRoot: global.hostRoot } : {}),
        resolveWaitMs,
        ...(durationMs !== undefined ? { durationMs } : {}),
        stopSignal: stop.promise,
        // One write(2) per drained batch of events, not one per event.
        // A reader that went away (`| head`) ends the trace like Ctrl-C.
        batch: { begin: () => io.out.hold(), end: () => io.out.flush() || stop.resolve() },
        diagnostics: (line) => io.diagnostics(`crienrich: ${line}`),
        ...(global.debug ? { debug: (line: string) => io.diagnostics(`debug: ${line}`) } : {}),
        onStarted: (selected) => {
          // Printed once attached, so a trace that fails to start prints no table at all.
          if (format === "table") io.out.writeLine(renderStreamRow(TRACE_COLUMNS, "header"));
          if (named && selected?.length === 0) {
            waiting = true;
            io.diagnostics(`crienrich: waiting for ${selectorText(selector)} to start`);
          } else {
            const what = values.all ? "every container" : named ? selectorText(selector) : "";
            const host = values.host ? (what ? " and the host" : "the host") : "";
            const pidns = pidNamespace.kind === "node"
              ? ` in PID namespace pid:[${pidNamespace.pidnsInode}]`
              : "";
            io.diagnostics(
              `crienrich: tracing ${what}${host}${pidns} (${
                selected === undefined
                  ? "running containers not listed before the trace's end"
                  : `${plural(selected.length, "running container")} selected`
              })`,
            );
          }
        },
        emit: (enriched, timeNs) => {
          const timed: TimedEvent = { ...enriched, timeNs };
          const ok = format === "json"
            ? io.out.writeLine(traceEventLine(timed, node))
            : io.out.writeLine(renderStreamRow(TRACE_COLUMNS, timed));
          printed++;
          if (awaited(enriched.event)) {
            matched = true;
            return false;
          }
          return ok && (count === undefined || printed < count);
        },
        onLost: (cpu, lost, timeNs) => {
          if (format === "json") io.out.writeJson(lostEventJson(timeNs, node, cpu, lost));
          else {io.diagnostics(
              `crienrich: lost ${
                plural(lost, "event")
              } on CPU ${cpu} (perf buffer full: raise --buffer-pages)`,
            );}
        },
      });
      io.diagnostics(`crienrich: ${describeSummary(summary)}`);
      if (named && !summary.selectionSeen) {
        const silent = runtime.unansweredHint();
        if (silent) {
          throw new RuntimeUnavailableError(
            `Cannot tell whether a container matching ${selectorText(selector)} ran: ${silent}`,
          );
        }
        throw new NotFoundError(
          `No container matching ${selectorText(selector)} ran during the trace`,
        );
      }
    } finally {
      runtime.close();
    }
    if (gated && !matched) {
      const what = [
        untilExec !== undefined ? `exec matching "${untilExec}"` : "",
        untilArgs !== undefined ? `exec with arguments containing "${untilArgs}"` : "",
        untilConnect !== undefined ? `connection established to ${untilConnect}` : "",
        untilOpen !== undefined ? `open of a path matching "${untilOpen}"` : "",
      ].filter(Boolean).join(" or ");
      throw new WaitTimeoutError(`No ${what} in ${selectorText(selector)} before the trace ended`);
    }
    return ExitCode.Ok;
  } finally {
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, onSignal);
  }
}

/** Signals that end a trace cleanly (summary printed, exit code 0). */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** "1 event", "2 events". */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/**
 * The end-of-trace summary: events of the selection printed, events of other containers
 * filtered in user space (sent before the kernel had their verdict), lost samples,
 * unresolved events printed flagged, events not printed because not proven to be the
 * selection's, and runtime helper events (exits, setup opens) hidden.
 */
export function describeSummary(summary: TraceSummary): string {
  const parts = [
    `${plural(summary.printed, "event")} printed`,
    `${summary.filtered} other events filtered`,
    `${summary.lost} lost`,
    `${summary.unresolved} unresolved`,
    `${summary.unproven} not proven to be the selection's`,
  ];
  if (summary.helpers > 0) {
    parts.push(`${plural(summary.helpers, "runtime helper event")} hidden`);
  }
  if (summary.lostCgroupSamples > 0) {
    parts.push(`${plural(summary.lostCgroupSamples, "cgroup sample")} lost`);
  }
  return parts.join(", ");
}

/** Largest `--buffer-pages`: 4096 pages of 4 KiB = 16 MiB per CPU. */
const MAX_BUFFER_PAGES = 4096;

function positiveInteger(text: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`Invalid ${flag} "${text}": must be a positive integer`);
  }
  if (value > max) throw new UsageError(`Invalid ${flag} "${text}": must be at most ${max}`);
  return value;
}
