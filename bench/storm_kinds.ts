/**
 * The storms of the kernel benchmark, one per traced event kind: the busybox shell script
 * that makes N events inside the pod (run through CRI ExecSync), the crienrich `--events`
 * kind that traces them, the bpftrace program on the same tracepoints printing the same
 * fields, the marker command that times spawn → first event, and how to count each
 * tracer's output.
 *
 * @module
 */

/** Counts of one tracer's output file. */
export interface OutputCounts {
  /** Events of the storm's kind, any process of the container. */
  events: number;
  /** Events the storm made (the exec of /bin/true, the open of /etc/hostname, ...). */
  seen: number;
  /** Drops the tracer reported in its output. */
  lost: number;
}

/** One storm kind. */
export interface StormKind {
  kind: "exec" | "open" | "connect";
  /** Events per storm unless `--<kind>s N` says otherwise. */
  defaultCount: number;
  /** What one event of the storm is, for the table ("execs of /bin/true"). */
  unit: string;
  /** Shell script (busybox sh, in the container) that makes `n` events. */
  script(n: number): string;
  /** crienrich's `--events`. */
  events: string;
  /** bpftrace program text, filtered by `filter` (a predicate on the traced task). */
  bpftrace(filter: string): string;
  /** The marker: a command in the container whose event contains `text` in both outputs. */
  marker: { cmd: string[]; text: string };
  countCrienrich(text: string): OutputCounts;
  countBpftrace(text: string): OutputCounts;
  /** Notes printed under the table. */
  notes: string[];
}

/** Port of the storm's listener (busybox `nc -ll`) on the node's loopback. */
export const STORM_PORT = 18_401;
/** Port nobody listens on: the connect marker is refused. */
const MARKER_PORT = 18_402;

type CrienrichLine = {
  type?: string;
  lost?: number;
  process?: { args?: string[] };
  net?: { dport?: number; result?: string };
  file?: { path?: string };
};

/** Counts crienrich's NDJSON: events of `type`, and those `made` says the storm made. */
function crienrichCounter(type: string, made: (e: CrienrichLine) => boolean) {
  return (text: string): OutputCounts => {
    const counts: OutputCounts = { events: 0, seen: 0, lost: 0 };
    for (const line of text.split("\n")) {
      if (!line) continue;
      let event: CrienrichLine;
      try {
        event = JSON.parse(line);
      } catch {
        continue; // A line cut by a concurrent read.
      }
      if (event.type === "lost") counts.lost += event.lost ?? 0;
      if (event.type !== type) continue;
      counts.events++;
      if (made(event)) counts.seen++;
    }
    return counts;
  };
}

/** Counts bpftrace's printf lines (`pid comm ...`): `made` tells the storm's from the rest. */
function bpftraceCounter(made: (fields: string[]) => boolean) {
  return (text: string): OutputCounts => {
    const counts: OutputCounts = { events: 0, seen: 0, lost: 0 };
    for (const line of text.split("\n")) {
      const lost = /^Lost (\d+) events/.exec(line);
      if (lost) {
        counts.lost += Number(lost[1]);
        continue;
      }
      if (!/^\d+ /.test(line)) continue; // "Attaching N probes...", blank lines
      counts.events++;
      if (made(line.split(" "))) counts.seen++;
    }
    return counts;
  };
}

const EXEC: StormKind = {
  kind: "exec",
  defaultCount: 3000,
  unit: "execs of /bin/true",
  script: (n) => `i=0; while [ $i -lt ${n} ]; do /bin/true; i=$((i+1)); done`,
  events: "exec",
  bpftrace: (filter) =>
    `tracepoint:sched:sched_process_exec /${filter}/ { printf("%d %s %s\\n", pid, comm, str(args->filename)); }`,
  marker: { cmd: ["/bin/uname", "-n"], text: "/bin/uname" },
  countCrienrich: crienrichCounter(
    "exec",
    (e) => (e.process?.args ?? []).join(" ") === "/bin/true",
  ),
  countBpftrace: bpftraceCounter((f) => f.at(-1) === "/bin/true"),
  notes: [],
};

const OPEN: StormKind = {
  kind: "open",
  defaultCount: 100_000,
  unit: "opens of /etc/hostname",
  // `: < FILE` is an openat(2) and a close in the shell itself: no fork, no exec.
  script: (n) => `i=0; while [ $i -lt ${n} ]; do : < /etc/hostname; i=$((i+1)); done`,
  events: "open",
  // opensnoop.bt's way: the path pointer kept at entry, read and printed at exit with the fd.
  bpftrace: (filter) =>
    `tracepoint:syscalls:sys_enter_openat /${filter}/ { @path[tid] = args->filename; @flags[tid] = args->flags; } ` +
    `tracepoint:syscalls:sys_exit_openat /@path[tid]/ { printf("%d %s %d %d %s\\n", pid, comm, @flags[tid], args->ret, str(@path[tid])); delete(@path[tid]); delete(@flags[tid]); }`,
  marker: { cmd: ["/bin/sh", "-c", ": < /etc/group"], text: "/etc/group" },
  countCrienrich: crienrichCounter("open", (e) => e.file?.path === "/etc/hostname"),
  countBpftrace: bpftraceCounter((f) => f.at(-1) === "/etc/hostname"),
  notes: [
    "open: crienrich also attaches openat2 (enter+exit, idle here); bpftrace traces openat only",
    "open: bpftrace's str() reads 64 bytes of path (BPFTRACE_STRLEN), crienrich's up to 256",
  ],
};

const CONNECT: StormKind = {
  kind: "connect",
  defaultCount: 5000,
  unit: `TCP connects to 127.0.0.1:${STORM_PORT}`,
  // Each connection is one busybox `nc` client (fork+exec) and, on the listener's side, a
  // fork+exec of /bin/true that closes it: 2 execs per connect, not traced (--events connect).
  script: (n) =>
    `nc -ll -p ${STORM_PORT} -e /bin/true </dev/null >/dev/null 2>&1 & L=$!; sleep 0.3; ` +
    `i=0; while [ $i -lt ${n} ]; do nc 127.0.0.1 ${STORM_PORT} </dev/null; i=$((i+1)); done; ` +
    `kill $L`,
  events: "connect",
  // The outcome of an active open: SYN_SENT (2) → ESTABLISHED or CLOSE, as crienrich's.
  bpftrace: (filter) =>
    `tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->oldstate == 2 && ${filter}/ { ` +
    `printf("%d %s %s %d %s %d %d\\n", pid, comm, ntop(args->saddr), args->sport, ntop(args->daddr), args->dport, args->newstate); }`,
  marker: {
    cmd: ["/bin/sh", "-c", `nc 127.0.0.1 ${MARKER_PORT} </dev/null 2>/dev/null; true`],
    text: String(MARKER_PORT),
  },
  countCrienrich: crienrichCounter(
    "connect",
    (e) => e.net?.dport === STORM_PORT && e.net.result === "established",
  ),
  countBpftrace: bpftraceCounter((f) => f[5] === String(STORM_PORT) && f[6] === "1"),
  notes: [
    "connect: each connect is also 2 execs (the nc client; the listener's /bin/true), untraced",
    "connect: the outcome runs in softirq; on loopback that is the connecting task's context",
  ],
};

/** Every storm kind, in the order they run. */
export const STORM_KINDS: readonly StormKind[] = [EXEC, OPEN, CONNECT];
