/**
 * What a node needs before the tracer can load, checked in the order that gives the most
 * useful error first: kernel BTF, root, libbpf, tracefs (mounted here when absent), and
 * the tracepoints of the requested event kinds. {@linkcode ProcessTracer.open} calls it; `doctor` can too.
 *
 * @module
 */

import { errorMessage, NotSupportedError, PermissionError } from "../errors.ts";
import { BpfError, EPERM, errnoText } from "./errno.ts";
import { openLibbpf } from "./libbpf.ts";
import type { NeededTracepoint } from "./programs.ts";

/** The kernel's own BTF; CO-RE relocations are resolved against it (CONFIG_DEBUG_INFO_BTF). */
export const KERNEL_BTF_PATH = "/sys/kernel/btf/vmlinux";
/** Where tracefs is mounted on modern systems (Documentation/trace/ftrace.rst). */
export const TRACEFS_PATH = "/sys/kernel/tracing";
/** The older location, an automount inside debugfs; libbpf 1.1 prefers it when present. */
const DEBUGFS_TRACING_PATH = "/sys/kernel/debug/tracing";
/** The tracepoints every trace attaches to (include/trace/events/sched.h). */
export const TRACEPOINTS = ["sched/sched_process_exec", "sched/sched_process_exit"] as const;

/** What {@linkcode checkTracingPrerequisites} found. */
export interface TracingPrerequisites {
  /** Path of the kernel's BTF. */
  btfPath: string;
  /** Path or soname libbpf was loaded from. */
  libbpfPath: string;
  /** libbpf's version, `"major.minor"`. */
  libbpfVersion: string;
  /** The tracefs directory holding the tracepoints (`events/` is inside). */
  tracefsPath: string;
  /** True when this call mounted tracefs (it stays mounted: other tools expect it). */
  mountedTracefs: boolean;
}

/** Options of {@linkcode checkTracingPrerequisites}. */
export interface PrerequisiteOptions {
  /** libbpf to load instead of the default search (a `--libbpf PATH` flag). */
  libbpfPath?: string;
  /** Mount tracefs when no tracefs holds the tracepoints; default true. */
  mountTracefs?: boolean;
  /**
   * The tracepoints to look for, with the event kinds that need them (named in the error);
   * default {@linkcode TRACEPOINTS}, which every trace needs.
   */
  tracepoints?: readonly NeededTracepoint[];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new Error(`Cannot check "${path}"`, { cause: error });
  }
}

const tracepointId = (tracefs: string, tp: string) => `${tracefs}/events/${tp}/id`;

/**
 * Checks that this process can load and attach crienrich's BPF programs, mounting tracefs
 * at `/sys/kernel/tracing` when no mounted tracefs holds the tracepoints (a fresh node may
 * have none; libbpf needs it to look up tracepoint ids). Needs root, `--allow-read`,
 * `--allow-sys=uid` and `--allow-ffi`.
 *
 * @example
 * ```ts
 * const found = checkTracingPrerequisites();
 * found.mountedTracefs; // true the first time on a fresh node
 * ```
 * @throws {NotSupportedError} no kernel BTF, no usable libbpf, tracefs not available (and
 * not mountable for another reason than permissions), or a tracepoint missing.
 * @throws {PermissionError} not root, or mounting tracefs was refused.
 */
export function checkTracingPrerequisites(options: PrerequisiteOptions = {}): TracingPrerequisites {
  if (!exists(KERNEL_BTF_PATH)) {
    throw new NotSupportedError(
      `Cannot trace processes: the kernel has no BTF ("${KERNEL_BTF_PATH}" is missing): ` +
        `a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed`,
    );
  }
  const uid = Deno.uid();
  if (uid !== 0) {
    throw new PermissionError(`Cannot trace processes: must run as root (running as uid ${uid})`);
  }
  const lib = openLibbpf(options.libbpfPath);

  const first = TRACEPOINTS[0];
  let tracefsPath = [DEBUGFS_TRACING_PATH, TRACEFS_PATH].find((dir) =>
    exists(tracepointId(dir, first))
  );
  let mountedTracefs = false;
  if (!tracefsPath && options.mountTracefs !== false && !exists(`${TRACEFS_PATH}/events`)) {
    try {
      lib.mount("tracefs", TRACEFS_PATH, "tracefs");
    } catch (error) {
      const detail = error instanceof BpfError ? errnoText(error.errno) : errorMessage(error);
      const message = `Cannot mount tracefs at "${TRACEFS_PATH}": ${detail}`;
      if (error instanceof BpfError && error.errno === EPERM) {
        throw new PermissionError(
          `${message}: mounting it needs CAP_SYS_ADMIN; or mount it first: mount -t tracefs tracefs ${TRACEFS_PATH}`,
          { cause: error },
        );
      }
      throw new NotSupportedError(message, { cause: error });
    }
    mountedTracefs = true;
    tracefsPath = TRACEFS_PATH;
  }
  if (!tracefsPath) tracefsPath = TRACEFS_PATH;
  const needed = options.tracepoints ??
    TRACEPOINTS.map((tracepoint) => ({ tracepoint, kinds: [] }));
  for (const { tracepoint: tp, kinds } of needed) {
    if (!exists(tracepointId(tracefsPath, tp))) {
      const what = kinds.length ? `Cannot trace ${kinds.join(" and ")} events: c` : "C";
      throw new NotSupportedError(
        `${what}annot find tracepoint "${tp}": "${tracepointId(tracefsPath, tp)}" is missing` +
          ` (kernel without it or without CONFIG_TRACEPOINTS, or tracefs not mounted at "${tracefsPath}")`,
      );
    }
  }
  return {
    btfPath: KERNEL_BTF_PATH,
    libbpfPath: lib.path,
    libbpfVersion: lib.version(),
    tracefsPath,
    mountedTracefs,
  };
}

/**
 * Returns the version of libbpf, `"major.minor"` (e.g. `"1.1"`), for `crienrich version`.
 * Needs `--allow-ffi`, not root.
 *
 * @throws {NotSupportedError} when libbpf cannot be loaded.
 */
export function libbpfVersion(libbpfPath?: string): string {
  return openLibbpf(libbpfPath).version();
}

/**
 * Returns the mount namespace id of a process: the number in the `/proc/PID/ns/mnt` link
 * (`mnt:[4026531840]`, the nsfs inode), the value the BPF programs report as `mntns_id`
 * (`task->nsproxy->mnt_ns->ns.inum`). Needs ptrace read access to the process (root).
 *
 * @throws {Deno.errors.NotFound} when the process does not exist.
 * @throws {Deno.errors.PermissionDenied} when its namespaces are not readable.
 */
export function mountNamespaceId(pid: number | "self", procRoot = "/proc"): bigint {
  const path = `${procRoot}/${pid}/ns/mnt`;
  const link = Deno.readLinkSync(path);
  const match = /^mnt:\[(\d+)\]$/.exec(link);
  if (!match?.[1]) throw new Error(`Cannot parse mount namespace link "${path}": "${link}"`);
  return BigInt(match[1]);
}

/**
 * Returns the host's mount namespace id: that of pid 1 of `procRoot` (the host's procfs, or
 * `<host-root>/proc`), else that of pid 2, kthreadd, whose kernel threads live in the
 * initial mount namespace (pid 1 is unreadable even to root without the capabilities it
 * has, e.g. CAP_SYS_RESOURCE), else this process's own, on the assumption that a node
 * agent runs in the host's mount namespace. Needs root.
 *
 * @throws {Deno.errors.NotFound} or {Deno.errors.PermissionDenied} when none is readable.
 */
export function hostMountNamespaceId(procRoot = "/proc"): bigint {
  for (const pid of [1, 2] as const) {
    try {
      return mountNamespaceId(pid, procRoot);
    } catch (error) {
      if (
        !(error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotFound)
      ) {
        throw error;
      }
    }
  }
  return mountNamespaceId("self");
}
