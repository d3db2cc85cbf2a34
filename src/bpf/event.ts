/**
 * Decoding of the perf samples crienrich's BPF programs send (`struct crienrich_event`).
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
  CRIENRICH_EVENT_CGROUP,
  CRIENRICH_EVENT_EXEC,
  CRIENRICH_EVENT_EXIT,
  CRIENRICH_FLAG_ARGS_TRUNCATED,
  CRIENRICH_FLAG_FILENAME_TRUNCATED,
  CRIENRICH_FLAG_MNTNS_UNKNOWN,
  EVENT_FIELDS as F,
  EXEC_HEAD_SIZE,
  EXIT_EVENT_SIZE,
} from "./event_layout.gen.ts";

/** What exec and exit events share. */
export interface ProcessEventBase {
  /** Which event: an execve(2) that succeeded, or a whole process that ended. */
  type: "exec" | "exit";
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
export type KernelSample = ProcessEvent | CgroupSample;

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** The bytes up to the first NUL (or all of them), decoded. */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end === -1 ? bytes : bytes.subarray(0, end));
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
    out.push(utf8.decode(bytes.subarray(start, end)));
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
export function decodeEvent(bytes: Uint8Array): ProcessEvent {
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
