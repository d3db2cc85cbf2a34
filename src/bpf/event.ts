/**
 * Decoding of the perf samples crienrich's BPF programs send (`struct crienrich_event`,
 * `crienrich_net_event`, `crienrich_open_event`, `crienrich_cgroup_sample`).
 *
 * Offsets come from `event_layout.gen.ts`, generated from the object's BTF; the layout's
 * source of truth is `bpf/event.h`. Samples are untrusted bytes: strings end at the first
 * NUL and decode as UTF-8 with U+FFFD for invalid sequences; lengths are bounded by the
 * fields they live in. Pure: no root needed.
 *
 * @module
 */

import {
  CGROUP_NAME_SIZE,
  CGROUP_SAMPLE_FIELDS as C,
  CGROUP_SAMPLE_SIZE,
  CRIENRICH_CGROUP_COMPLETE,
  CRIENRICH_CGROUP_V1,
  CRIENRICH_EVENT_ACCEPT,
  CRIENRICH_EVENT_CGROUP,
  CRIENRICH_EVENT_CLOSE,
  CRIENRICH_EVENT_CONNECT,
  CRIENRICH_EVENT_EXEC,
  CRIENRICH_EVENT_EXIT,
  CRIENRICH_EVENT_OPEN,
  CRIENRICH_FLAG_ARGS_TRUNCATED,
  CRIENRICH_FLAG_FILENAME_TRUNCATED,
  CRIENRICH_FLAG_MNTNS_UNKNOWN,
  CRIENRICH_FLAG_OPENAT2,
  EVENT_FIELDS as F,
  EXEC_HEAD_SIZE,
  EXIT_EVENT_SIZE,
  NET_EVENT_FIELDS as N,
  NET_EVENT_SIZE,
  OPEN_EVENT_FIELDS as O,
  OPEN_HEAD_SIZE,
} from "./event_layout.gen.ts";

/** Every kind of traced event, as `--events` names them, in the order help texts list them. */
export const EVENT_KINDS = ["exec", "exit", "connect", "accept", "close", "open"] as const;

/** One of {@linkcode EVENT_KINDS}. */
export type EventKind = typeof EVENT_KINDS[number];

/** What every traced event shares: when, which process, which cgroup and mount namespace. */
export interface ProcessEventBase {
  /** Which event (see {@linkcode TraceEvent}). */
  type: EventKind;
  /** When, in nanoseconds of CLOCK_BOOTTIME; see `ProcessTracer.bootTimeToWallClockNs`. */
  tsBootNs: bigint;
  /**
   * Process id as user space knows it (ps, /proc/PID): the kernel's tgid, in the traced PID
   * namespace (the host's, or a kind node's: `TracerOptions.pidNamespaceInode`).
   */
  pid: number;
  /** Thread id (the kernel's `task->pid`); equals `pid` in every event sent. */
  tid: number;
  /**
   * Parent's process id (`task->real_parent->tgid`): ignores ptrace re-parenting; 0 when
   * the parent is outside the traced PID namespace.
   */
  ppid: number;
  /** Real user id, as the initial user namespace sees it (not a container's own id). */
  uid: number;
  /** Real group id, as the initial user namespace sees it. */
  gid: number;
  /** The task's name (`comm`, at most 15 bytes): the binary's base name after an exec. */
  comm: string;
  /** Inode of the task's cgroup v2 directory: the container's cgroup, if any. */
  cgroupId: bigint;
  /**
   * Inode of `/proc/PID/ns/mnt`: one per container, the host's for host processes. The
   * kernel reuses a freed inode number at once: not a key across time.
   */
  mntnsId: bigint;
  /**
   * The mount namespace's 64-bit serial, never reused while the kernel runs (`ns_id` on
   * Linux 6.18+, `mnt_namespace.seq` before; what NS_GET_MNTNS_ID returns on 6.9+): the key
   * of the kernel's verdicts and of the enrichment cache.
   */
  mntnsSeq: bigint;
  /** The namespace had no verdict in the kernel's map: user space should decide it. */
  mntnsUnknown: boolean;
}

/** A successful execve(2)/execveat(2) (tracepoint `sched:sched_process_exec`). */
export interface ExecEvent extends ProcessEventBase {
  type: "exec";
  /** Path of the executed file as the kernel resolved it (at most 255 bytes). */
  binary: string;
  /** The path filled its 256-byte field: probably cut. */
  binaryTruncated: boolean;
  /** argv, `args[0]` included, from the new image's memory (at most 1024 bytes in all). */
  args: string[];
  /** argv was longer than 1024 bytes: the last element may be cut, later ones missing. */
  argsTruncated: boolean;
}

/** A whole process ended: its thread-group leader exited (`sched:sched_process_exit`). */
export interface ExitEvent extends ProcessEventBase {
  type: "exit";
  /** Exit status, 0-255 (`WEXITSTATUS`); 0 when killed by a signal. */
  exitCode: number;
  /** The signal that killed it (`WTERMSIG`), 0 for a normal exit. */
  signal: number;
  /** Lifetime of the process in nanoseconds (CLOCK_MONOTONIC, from fork to exit). */
  durationNs: bigint;
}

/** One decoded exec or exit event. */
export type ProcessEvent = ExecEvent | ExitEvent;

/** The two ends of a TCP connection, as the socket's owner sees them. */
export interface NetTuple {
  protocol: "tcp";
  family: "ipv4" | "ipv6";
  /** Local address: dotted IPv4, or IPv6 in RFC 5952 text (`::ffff:a.b.c.d` when mapped). */
  saddr: string;
  /** Local port (0-65535). */
  sport: number;
  /** Remote address, as `saddr`. */
  daddr: string;
  /** Remote port. */
  dport: number;
}

/**
 * A TCP event (`struct crienrich_net_event`): the process fields are the socket owner's,
 * the task that called connect(2) or accept(2), whatever context the kernel ran in.
 * - `connect`: an outgoing attempt's outcome: `tcpState` 1 (ESTABLISHED), or 7 (CLOSE) with
 *   `error` (ECONNREFUSED, ETIMEDOUT, ...); `durationNs` from SYN_SENT to the outcome.
 * - `accept`: accept(2)/accept4(2) returned this connection; `durationNs` 0.
 * - `close`: a connection that was established (connect) or accepted reached CLOSE;
 *   `tcpState` the state it closed from, `durationNs` since ESTABLISHED or the accept.
 */
export interface TcpEvent extends ProcessEventBase {
  type: "connect" | "accept" | "close";
  net: NetTuple;
  /** A TCP state number (`TCP_ESTABLISHED` = 1 ... in include/net/tcp_states.h). */
  tcpState: number;
  /** A positive errno (the socket's `sk_err`), or 0. */
  error: number;
  /** Nanoseconds, CLOCK_MONOTONIC, as described per type. */
  durationNs: bigint;
}

/** An openat(2)/openat2(2) that returned (`struct crienrich_open_event`). */
export interface OpenEvent extends ProcessEventBase {
  type: "open";
  /** The path as passed (relative to the call's directory fd when not absolute), ≤ 255 bytes. */
  path: string;
  /** The path filled its 256-byte field: probably cut. */
  pathTruncated: boolean;
  /** `O_*` bits as passed (openat2: the low 32 bits of `how.flags`). */
  flags: number;
  /** The mode argument (meaningful with `O_CREAT`/`O_TMPFILE`). */
  mode: number;
  /** The new file descriptor (≥ 0), or a negative errno. */
  result: number;
  /** The call was openat2(2). */
  openat2: boolean;
  /** Nanoseconds from the syscall's entry to its return. */
  durationNs: bigint;
}

/** Any traced event: what the pipeline enriches and prints. */
export type TraceEvent = ProcessEvent | TcpEvent | OpenEvent;

/**
 * The cgroup of a task whose mount namespace had no verdict, sent right before that task's
 * event on the same CPU (`struct crienrich_cgroup_sample`): what names the container even
 * after the process and its cgroup are gone.
 */
export interface CgroupSample {
  type: "cgroup";
  tsBootNs: bigint;
  /** Process id of the event that follows, as in {@linkcode ProcessEventBase.pid}. */
  pid: number;
  cgroupId: bigint;
  mntnsId: bigint;
  mntnsSeq: bigint;
  /**
   * Cgroup directory names from the root down to the task's own (at most 6, so the outer
   * levels may be missing: see `complete`), e.g. `["k8s.io", "<64 hex>"]`.
   */
  segments: string[];
  /**
   * The cgroup id of each of `segments` (same order): the kernfs node id, which is the
   * directory's inode number and, for the v2 tree, what `bpf_get_current_cgroup_id()`
   * returns for a task in it.
   */
  ids: bigint[];
  /** True when `segments` reach the hierarchy's root: the whole path. */
  complete: boolean;
  /** True when the names are the v1 memory hierarchy's (a node without a cgroup v2 tree). */
  v1: boolean;
}

/** Any sample the BPF programs send. */
export type KernelSample = TraceEvent | CgroupSample;

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** The bytes up to the first NUL (or all of them), decoded. */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decodeText(end === -1 ? bytes : bytes.subarray(0, end));
}

/**
 * UTF-8 text of `bytes`. Short ASCII strings (comm, most paths and arguments) are built in
 * JavaScript: a TextDecoder call costs more than the string itself below ~64 bytes
 * (bench/pipeline_bench.ts).
 */
function decodeText(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n > 64) return utf8.decode(bytes);
  let text = "";
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return utf8.decode(bytes);
    text += String.fromCharCode(b);
  }
  return text;
}

function field(bytes: Uint8Array, f: { offset: number; size: number }): Uint8Array {
  return bytes.subarray(f.offset, f.offset + f.size);
}

/** argv's NUL-separated strings; a cut last string is kept, the empty tail dropped. */
function splitArgs(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0, start);
    if (end === -1) end = bytes.length;
    out.push(decodeText(bytes.subarray(start, end)));
    start = end + 1;
  }
  return out;
}

/**
 * Decodes one perf sample. Exec samples are {@linkcode EXEC_HEAD_SIZE} bytes plus
 * `args_size` bytes of argv (at most the whole struct), exit samples
 * {@linkcode EXIT_EVENT_SIZE}; longer samples are accepted (perf pads samples to 8 bytes).
 *
 * @example
 * ```ts
 * const e = decodeEvent(sample);
 * if (e.type === "exec") console.log(e.pid, e.binary, e.args.join(" "));
 * ```
 * @throws {RangeError} when the sample is shorter than its type needs, or its type is
 * unknown (a newer object than this decoder).
 */
export function decodeEvent(bytes: Uint8Array): TraceEvent {
  const sample = decodeSample(bytes);
  if (sample.type === "cgroup") throw new RangeError("Cannot decode sample: a cgroup sample");
  return sample;
}

/**
 * Decodes one perf sample of any type: an event ({@linkcode decodeEvent}'s rules) or a
 * cgroup sample ({@linkcode CGROUP_SAMPLE_SIZE} bytes).
 *
 * @throws {RangeError} when the sample is shorter than its type needs, or its type is
 * unknown (a newer object than this decoder).
 */
export function decodeSample(bytes: Uint8Array): KernelSample {
  if (bytes.byteLength < EXIT_EVENT_SIZE) {
    throw new RangeError(
      `Cannot decode sample: ${bytes.byteLength} bytes, need ${EXIT_EVENT_SIZE}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (f: { offset: number }) => view.getUint32(f.offset, true);
  const u64 = (f: { offset: number }) => view.getBigUint64(f.offset, true);
  const flags = u32(F.flags);
  const base = {
    tsBootNs: u64(F.ts_boot_ns),
    pid: u32(F.tgid),
    tid: u32(F.pid),
    ppid: u32(F.ppid),
    uid: u32(F.uid),
    gid: u32(F.gid),
    comm: cString(field(bytes, F.comm)),
    cgroupId: u64(F.cgroup_id),
    mntnsId: u64(F.mntns_id),
    mntnsSeq: u64(F.mntns_seq),
    mntnsUnknown: (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN) !== 0,
  };
  const type = u32(F.type);
  if (type === CRIENRICH_EVENT_CGROUP) return decodeCgroupSample(bytes, view);
  const tcpType = TCP_TYPES[type];
  if (tcpType) return decodeTcpEvent(bytes, view, tcpType, base);
  if (type === CRIENRICH_EVENT_OPEN) return decodeOpenEvent(bytes, view, flags, base);
  if (type === CRIENRICH_EVENT_EXIT) {
    return {
      type: "exit",
      ...base,
      exitCode: u32(F.exit_code),
      signal: u32(F.exit_signal),
      durationNs: u64(F.duration_ns),
    };
  }
  if (type !== CRIENRICH_EVENT_EXEC) throw new RangeError(`Cannot decode sample: type ${type}`);
  if (bytes.byteLength < EXEC_HEAD_SIZE) {
    throw new RangeError(
      `Cannot decode exec sample: ${bytes.byteLength} bytes, need ${EXEC_HEAD_SIZE}`,
    );
  }
  const argsSize = Math.min(u32(F.args_size), F.args.size);
  if (bytes.byteLength < EXEC_HEAD_SIZE + argsSize) {
    throw new RangeError(
      `Cannot decode exec sample: ${bytes.byteLength} bytes, need ${EXEC_HEAD_SIZE} + ` +
        `${argsSize} of argv`,
    );
  }
  return {
    type: "exec",
    ...base,
    binary: cString(field(bytes, F.filename)),
    binaryTruncated: (flags & CRIENRICH_FLAG_FILENAME_TRUNCATED) !== 0,
    args: splitArgs(bytes.subarray(F.args.offset, F.args.offset + argsSize)),
    argsTruncated: (flags & CRIENRICH_FLAG_ARGS_TRUNCATED) !== 0,
  };
}

/**
 * When the kernel read what an event says of its process (mount namespace, cgroup, ids),
 * CLOCK_BOOTTIME ns: the event's own time, except for TCP events, which carry the socket's
 * owner as recorded in process context at `connect(2)` (the SYN, `durationNs` before a
 * connect's outcome) or at `accept(2)` (the start of a close's `durationNs` for an accepted
 * connection; for a connected one its establishment, the earliest time the event knows
 * after the SYN). A connection can close long after its owner's container is gone and a
 * new container got its mount namespace's inode number: facts about the owner must be
 * proven as of this time, not of the event's.
 */
export function ownerFactsBootNs(event: TraceEvent): bigint {
  if (event.type !== "connect" && event.type !== "close") return event.tsBootNs;
  const at = event.tsBootNs - event.durationNs;
  return at > 0n ? at : 0n;
}

const TCP_TYPES: Record<number, TcpEvent["type"]> = {
  [CRIENRICH_EVENT_CONNECT]: "connect",
  [CRIENRICH_EVENT_ACCEPT]: "accept",
  [CRIENRICH_EVENT_CLOSE]: "close",
};

type Base = Omit<ProcessEventBase, "type">;

function decodeTcpEvent(
  bytes: Uint8Array,
  view: DataView,
  type: TcpEvent["type"],
  base: Base,
): TcpEvent {
  if (bytes.byteLength < NET_EVENT_SIZE) {
    throw new RangeError(
      `Cannot decode ${type} sample: ${bytes.byteLength} bytes, need ${NET_EVENT_SIZE}`,
    );
  }
  const ipv6 = view.getUint16(N.family.offset, true) === AF_INET6;
  const address = (f: { offset: number }) =>
    ipv6 ? formatIpv6(bytes.subarray(f.offset, f.offset + 16)) : formatIpv4(bytes, f.offset);
  return {
    type,
    ...base,
    net: {
      protocol: "tcp",
      family: ipv6 ? "ipv6" : "ipv4",
      saddr: address(N.saddr),
      sport: view.getUint16(N.sport.offset, true),
      daddr: address(N.daddr),
      dport: view.getUint16(N.dport.offset, true),
    },
    tcpState: view.getUint32(N.state.offset, true),
    error: view.getInt32(N.error.offset, true),
    durationNs: view.getBigUint64(N.duration_ns.offset, true),
  };
}

function decodeOpenEvent(bytes: Uint8Array, view: DataView, flags: number, base: Base): OpenEvent {
  if (bytes.byteLength < OPEN_HEAD_SIZE) {
    throw new RangeError(
      `Cannot decode open sample: ${bytes.byteLength} bytes, need ${OPEN_HEAD_SIZE}`,
    );
  }
  const pathSize = Math.min(view.getUint32(O.path_size.offset, true), O.path.size);
  if (bytes.byteLength < OPEN_HEAD_SIZE + pathSize) {
    throw new RangeError(
      `Cannot decode open sample: ${bytes.byteLength} bytes, need ${OPEN_HEAD_SIZE} + ` +
        `${pathSize} of path`,
    );
  }
  return {
    type: "open",
    ...base,
    path: cString(bytes.subarray(O.path.offset, O.path.offset + pathSize)),
    pathTruncated: (flags & CRIENRICH_FLAG_FILENAME_TRUNCATED) !== 0,
    flags: view.getUint32(O.open_flags.offset, true),
    mode: view.getUint32(O.open_mode.offset, true),
    result: view.getInt32(O.result.offset, true),
    openat2: (flags & CRIENRICH_FLAG_OPENAT2) !== 0,
    durationNs: view.getBigUint64(O.duration_ns.offset, true),
  };
}

/** AF_INET6 (include/linux/socket.h). */
const AF_INET6 = 10;

function formatIpv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * An IPv6 address in RFC 5952 text: lower-case hex groups without leading zeros, the
 * longest run of two or more zero groups (the first of equal runs) as `::`, and
 * IPv4-mapped addresses (`::ffff:0:0/96`) as `::ffff:a.b.c.d`.
 */
export function formatIpv6(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`An IPv6 address is 16 bytes, got ${bytes.length}`);
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${formatIpv4(bytes, 12)}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function decodeCgroupSample(bytes: Uint8Array, view: DataView): CgroupSample {
  if (bytes.byteLength < CGROUP_SAMPLE_SIZE) {
    throw new RangeError(
      `Cannot decode cgroup sample: ${bytes.byteLength} bytes, need ${CGROUP_SAMPLE_SIZE}`,
    );
  }
  const levels = C.names.size / CGROUP_NAME_SIZE;
  const depth = Math.min(view.getUint32(C.depth.offset, true), levels);
  const flags = view.getUint32(C.cgroup_flags.offset, true);
  const segments: string[] = [];
  const ids: bigint[] = [];
  for (let i = depth - 1; i >= 0; i--) {
    const start = C.names.offset + i * CGROUP_NAME_SIZE;
    segments.push(cString(bytes.subarray(start, start + CGROUP_NAME_SIZE)));
    ids.push(view.getBigUint64(C.ids.offset + i * 8, true));
  }
  return {
    type: "cgroup",
    tsBootNs: view.getBigUint64(C.ts_boot_ns.offset, true),
    pid: view.getUint32(C.tgid.offset, true),
    cgroupId: view.getBigUint64(C.cgroup_id.offset, true),
    mntnsId: view.getBigUint64(C.mntns_id.offset, true),
    mntnsSeq: view.getBigUint64(C.mntns_seq.offset, true),
    segments,
    ids,
    complete: (flags & CRIENRICH_CGROUP_COMPLETE) !== 0,
    v1: (flags & CRIENRICH_CGROUP_V1) !== 0,
  };
}
