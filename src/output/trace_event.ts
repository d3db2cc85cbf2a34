/**
 * How a trace event is printed: the NDJSON object (a contract for scripts, documented in the
 * README "Trace events") and the table columns, declared once for the table and `--help`.
 *
 * @module
 */
import type { OpenEvent, TcpEvent, TraceEvent } from "../bpf/event.ts";
import type { EnrichedEvent } from "../enrich/pipeline.ts";
import { type ContainerRecord, nsToRfc3339, type PodRecord } from "../runtime/record.ts";
import { errnoName, openFlagNames, signalName, tcpStateName } from "./kernel_names.ts";
import type { Column } from "./table.ts";

/** A trace event ready to print: the enriched event plus its wall-clock time. */
export interface TimedEvent extends EnrichedEvent {
  /** Wall-clock time of the event, ns since the Unix epoch. */
  timeNs: bigint;
}

function processJson(event: TraceEvent): Record<string, unknown> {
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
  if (event.type === "exit") {
    return {
      ...common,
      exit_code: event.exitCode,
      signal: event.signal,
      duration_ns: Number(event.durationNs),
    };
  }
  return common;
}

/**
 * The outcome of a TCP event: `established` (connect succeeded, accept), `failed`
 * (connect), `closed` (close).
 */
function tcpResult(event: TcpEvent): "established" | "failed" | "closed" {
  if (event.type === "close") return "closed";
  return event.type === "accept" || event.tcpState === 1 ? "established" : "failed";
}

function netJson(event: TcpEvent): Record<string, unknown> {
  return {
    ...event.net,
    result: tcpResult(event),
    state: tcpStateName(event.tcpState),
    error: event.error ? errnoName(event.error) : null,
    duration_ns: Number(event.durationNs),
  };
}

function fileJson(event: OpenEvent): Record<string, unknown> {
  return {
    path: event.path,
    path_truncated: event.pathTruncated,
    flags: openFlagNames(event.flags),
    mode: event.mode,
    fd: event.result >= 0 ? event.result : null,
    error: event.result < 0 ? errnoName(-event.result) : null,
    syscall: event.openat2 ? "openat2" : "openat",
    duration_ns: Number(event.durationNs),
  };
}

/** The kind-specific object of an event: `net` for TCP events, `file` for opens. */
function detailJson(event: TraceEvent): Record<string, unknown> {
  if (event.type === "connect" || event.type === "accept" || event.type === "close") {
    return { net: netJson(event) };
  }
  if (event.type === "open") return { file: fileJson(event) };
  return {};
}

/**
 * The NDJSON object of one event. `container` and `pod` are null for host processes and
 * for events whose container could not be resolved in time (`unresolved: true`).
 */
export function traceEventJson(timed: TimedEvent, node: string): Record<string, unknown> {
  const { record } = timed;
  return {
    ...eventHead(timed, node),
    container: record ? containerJson(record) : null,
    pod: timed.pod ? podJson(timed.pod) : null,
    ...eventTail(timed),
  };
}

/**
 * The NDJSON line of one event: `JSON.stringify(traceEventJson(timed, node))`, built faster.
 * The container and pod objects are the same for every event of a container and make up
 * about two thirds of a line, so their JSON text is made once per record (records are not
 * changed once built) and spliced in; only the event's own fields are serialized per event.
 */
export function traceEventLine(timed: TimedEvent, node: string): string {
  const container = timed.record ? cachedJson(containerTexts, timed.record, containerJson) : "null";
  const pod = timed.pod ? cachedJson(podTexts, timed.pod, podJson) : "null";
  const head = JSON.stringify(eventHead(timed, node));
  const tail = JSON.stringify(eventTail(timed));
  return `${head.slice(0, -1)},"container":${container},"pod":${pod},${tail.slice(1)}`;
}

/** The fields before `container`, in the contract's order. */
function eventHead(timed: TimedEvent, node: string): Record<string, unknown> {
  const { event } = timed;
  return {
    time: nsToRfc3339(timed.timeNs),
    type: event.type,
    node,
    process: processJson(event),
    ...detailJson(event),
  };
}

/** The fields after `pod`. */
function eventTail(timed: TimedEvent): Record<string, unknown> {
  return {
    pod_sandbox: timed.sandbox,
    unresolved: timed.unresolved,
    cgroup_id: Number(timed.event.cgroupId),
    mntns_id: Number(timed.event.mntnsId),
  };
}

function containerJson(record: ContainerRecord): Record<string, unknown> {
  return {
    id: record.id,
    name: record.name,
    image: record.image,
    image_id: record.image_id,
    runtime: record.runtime,
    compose: record.compose,
    // As in the record: only containerd's own API's containers have one.
    ...(record.containerd_namespace !== undefined
      ? { containerd_namespace: record.containerd_namespace }
      : {}),
  };
}

function podJson(pod: PodRecord): Record<string, unknown> {
  return { name: pod.name, namespace: pod.namespace, uid: pod.uid, labels: pod.labels };
}

const containerTexts = new WeakMap<ContainerRecord, string>();
const podTexts = new WeakMap<PodRecord, string>();

function cachedJson<T extends object>(
  texts: WeakMap<T, string>,
  value: T,
  json: (value: T) => Record<string, unknown>,
): string {
  let text = texts.get(value);
  if (text === undefined) texts.set(value, text = JSON.stringify(json(value)));
  return text;
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
  const how = signal !== 0 ? `killed by ${signalName(signal)}` : `exit ${exitCode}`;
  return `[${how} after ${formatDuration(durationNs)}]`;
}

/** "1.25 s" from 1.25e9 ns, "20.0 ms" below a second. */
function formatDuration(durationNs: bigint): string {
  const ms = Number(durationNs) / 1e6;
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** `addr:port`, IPv6 addresses in brackets (`[::1]:8080`). */
function endpoint(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Human text of a TCP event: `connect 10.0.0.2:41234 -> 10.0.0.9:5432 established (0.2 ms)`,
 * `... failed ECONNREFUSED`, `accept 10.0.0.9:5432 <- 10.0.0.2:41234`, `close ... after 1.20 s`.
 */
export function describeTcp(event: TcpEvent): string {
  const local = endpoint(event.net.saddr, event.net.sport);
  const remote = endpoint(event.net.daddr, event.net.dport);
  if (event.type === "accept") return `accept ${local} <- ${remote}`;
  const link = `${local} -> ${remote}`;
  const error = event.error ? ` ${errnoName(event.error)}` : "";
  if (event.type === "close") {
    return `close ${link} after ${formatDuration(event.durationNs)} from ${
      tcpStateName(event.tcpState)
    }${error}`;
  }
  return `connect ${link} ${tcpResult(event)}${error} (${formatDuration(event.durationNs)})`;
}

/** Human text of an open: `open /etc/hosts O_RDONLY|O_CLOEXEC = 3` or `... = ENOENT`. */
export function describeOpen(event: OpenEvent): string {
  const result = event.result >= 0 ? String(event.result) : errnoName(-event.result);
  return `open ${event.path}${event.pathTruncated ? "…" : ""} ${
    openFlagNames(event.flags).join("|")
  } = ${result}`;
}

/** The DETAILS column: argv of an exec, the outcome of an exit, the text of other kinds. */
function describeEvent(event: TraceEvent): string {
  switch (event.type) {
    case "exec":
      return event.args.join(" ") + (event.argsTruncated ? " …" : "");
    case "exit":
      return describeExit(event.exitCode, event.signal, event.durationNs);
    case "open":
      return describeOpen(event);
    default:
      return describeTcp(event);
  }
}

/**
 * A pod's field, or `?` when unresolved, `-` for a container outside any pod, `<host>` for
 * no container's.
 */
const podField = (t: TimedEvent, value: (p: NonNullable<TimedEvent["pod"]>) => string) =>
  t.pod ? value(t.pod) : t.unresolved ? "?" : t.record ? "-" : "<host>";

/** The pod's namespace, else containerd's namespace (as `ps` shows it), else as `podField`. */
const namespaceField = (t: TimedEvent) =>
  t.pod ? t.pod.namespace : t.record?.containerd_namespace ?? podField(t, (p) => p.namespace);

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
    description:
      "pod namespace; containerd's namespace for containerd's own API (<host> outside containers, ? when unresolved)",
    value: namespaceField,
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
    header: "DETAILS",
    description:
      "exec: argv (… when cut at 1024 bytes); exit: [exit code or signal, lifetime]; connect, accept, close: the TCP connection, local end first; open: path, flags = fd or errno",
    value: (t) => describeEvent(t.event),
  },
];
