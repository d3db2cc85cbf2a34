/**
 * crienrich's BPF programs: which tracepoint each attaches to and which event kinds need
 * it. The tracer attaches (and loads) only the programs the requested kinds need; the
 * prerequisite check and `doctor` look for the same tracepoints.
 *
 * @module
 */
import type { EventKind } from "./event.ts";

/** One BPF program of `bpf/crienrich.bpf.c`. */
export interface BpfProgram {
  /** The C function's name (≤ 15 bytes: the kernel's BPF_OBJ_NAME_LEN). */
  name: string;
  /** `category/name` under tracefs `events/`. */
  tracepoint: string;
  /** The kinds that need it; `"always"`: attached for every trace. */
  kinds: readonly EventKind[] | "always";
}

/** Every program, in attach order. */
export const PROGRAMS: readonly BpfProgram[] = [
  { name: "crienrich_exec", tracepoint: "sched/sched_process_exec", kinds: ["exec"] },
  // Always: besides exit events it drops the verdict of a mount namespace whose last
  // process exits (crienrich.bpf.c), whatever kinds are traced.
  { name: "crienrich_exit", tracepoint: "sched/sched_process_exit", kinds: "always" },
  // Connect outcomes, and the end of connections whose owners connect/accept recorded.
  { name: "crienrich_tcp", tracepoint: "sock/inet_sock_set_state", kinds: ["connect", "close"] },
  { name: "crienrich_acpt", tracepoint: "syscalls/sys_exit_accept", kinds: ["accept", "close"] },
  { name: "crienrich_acpt4", tracepoint: "syscalls/sys_exit_accept4", kinds: ["accept", "close"] },
  { name: "crienrich_open", tracepoint: "syscalls/sys_enter_openat", kinds: ["open"] },
  { name: "crienrich_openx", tracepoint: "syscalls/sys_exit_openat", kinds: ["open"] },
  { name: "crienrich_open2", tracepoint: "syscalls/sys_enter_openat2", kinds: ["open"] },
  { name: "crienrich_opn2x", tracepoint: "syscalls/sys_exit_openat2", kinds: ["open"] },
];

/** A map that only the programs of some kinds use. */
export interface KindMap {
  /** The map's name in `bpf/crienrich.bpf.c`. */
  name: string;
  /** The kinds whose programs use it. */
  kinds: readonly EventKind[];
}

/**
 * Maps made with a single entry when none of their kinds is traced: an LRU hash map is
 * preallocated in full at load, and `sock_owner`'s 65 536 entries alone took ~20 ms of the
 * ~95 ms load here (and ~6 MiB of kernel memory) for a trace of execs.
 */
export const KIND_MAPS: readonly KindMap[] = [
  { name: "sock_owner", kinds: ["connect", "accept", "close"] },
  { name: "open_args", kinds: ["open"] },
];

/** True when tracing `kinds` needs `program`. */
export function programNeeded(program: BpfProgram, kinds: ReadonlySet<EventKind>): boolean {
  return program.kinds === "always" || program.kinds.some((kind) => kinds.has(kind));
}

/** A tracepoint and the requested kinds that need it (empty: needed for any trace). */
export interface NeededTracepoint {
  tracepoint: string;
  kinds: EventKind[];
}

/** The tracepoints tracing `kinds` attaches to, each with the kinds that need it. */
export function tracepointsFor(kinds: ReadonlySet<EventKind>): NeededTracepoint[] {
  return PROGRAMS.filter((p) => programNeeded(p, kinds)).map((p) => ({
    tracepoint: p.tracepoint,
    kinds: p.kinds === "always" ? [] : p.kinds.filter((kind) => kinds.has(kind)),
  }));
}
