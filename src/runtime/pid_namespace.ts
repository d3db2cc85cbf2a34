/**
 * Which PID namespace crienrich's `/proc` shows, and whether the container runtime is
 * visible from it (pid_namespaces(7)).
 *
 * crienrich joins events and container records by pid through `/proc/<pid>`, and the runtime
 * reports container pids as its own PID namespace numbers them. Both only line up when
 * crienrich looks at the runtime's processes from a namespace that contains them:
 *
 * - `host`: the procfs at `procRoot` shows the initial PID namespace (a node process, a pod
 *   with `hostPID: true`, `docker run --pid=host`, or `--host-root DIR` whose `DIR/proc` is
 *   the host's procfs);
 * - `node`: a private PID namespace that holds the runtime too — a kind node or
 *   docker-in-docker, where containerd and crienrich run in one container. Pids are then
 *   reported as that namespace sees them, and only its processes are traced;
 * - `blind`: a private PID namespace from which the runtime is invisible (a DaemonSet without
 *   `hostPID: true`, `docker run` without `--pid=host`). Nothing crienrich reads from `/proc`
 *   about a container is right there.
 *
 * The runtime's visibility is read from its socket: `SO_PEERCRED` (unix(7)) gives the pid
 * of the process that listens on the CRI socket, translated by the kernel into the reader's
 * PID namespace, and 0 when that process is not visible from it (`cred_to_ucred()` in
 * `net/core/sock.c` uses `pid_vnr()`). Deno has no API for it, so this module holds a
 * second, small FFI table (libc's socket, connect, getsockopt, close and errno) next to
 * libbpf's in `src/bpf/libbpf.ts`; nothing else here touches FFI.
 *
 * @module
 */
import { join } from "node:path";
import {
  errorMessage,
  PermissionError,
  PidNamespaceError,
  RuntimeUnavailableError,
} from "../errors.ts";

/**
 * Inode number of the initial PID namespace: `PROC_PID_INIT_INO` (0xEFFFFFFC) in the
 * kernel's `include/linux/proc_ns.h`, fixed since Linux 3.8. No other PID namespace has it.
 */
export const INIT_PID_NAMESPACE_INODE = 0xEFFFFFFCn;

/** How crienrich's `/proc` relates to the runtime's processes; see the module doc. */
export type PidNamespaceView =
  | { kind: "host" }
  | {
    kind: "node";
    /** Inode number of crienrich's PID namespace (`stat -L -c %i /proc/self/ns/pid`). */
    pidnsInode: bigint;
    /**
     * Device number of the nsfs file, `st_dev` as stat(2) gives it: with `pidnsInode`, the
     * `dev` and `ino` arguments of `bpf_get_ns_current_pid_tgid()` (Linux 5.7).
     */
    pidnsDev: bigint;
    /** Pid of the process listening on the CRI socket, in crienrich's PID namespace. */
    runtimePid: number;
  }
  | {
    kind: "blind";
    /** Inode number of crienrich's PID namespace, for messages. */
    pidnsInode: bigint;
  };

/** The views in which container pids mean something to crienrich. */
export type VisiblePidNamespace = Exclude<PidNamespaceView, { kind: "blind" }>;

/** What to do about a `blind` view, one line (the error and `doctor` share it). */
export const BLIND_HINT =
  "run crienrich with hostPID: true (Kubernetes) or docker run --pid=host, or mount the host's / and pass --host-root DIR";

/** Options of {@linkcode detectPidNamespace}. */
export interface PidNamespaceOptions {
  /** The procfs crienrich reads processes from: `/proc`, or `DIR/proc` with `--host-root DIR`. */
  procRoot: string;
  /** Path of the runtime's CRI unix socket (no `unix://`). */
  criSocketPath: string;
}

/**
 * Finds out how crienrich's `/proc` relates to the runtime's processes: `host` when
 * `procRoot` shows the initial PID namespace (the socket is then not touched); else `node`
 * when the process listening on `criSocketPath` is visible from crienrich's PID namespace;
 * else `blind`.
 *
 * Needs `--allow-read` (procfs), `--allow-ffi` (the socket peer), and, for the peer, write
 * access to the socket (root). Makes no CRI call: it connects and closes.
 *
 * @returns The view; `node` carries the namespace's inode and device numbers.
 * @throws {PidNamespaceError} `procRoot` cannot be listed (exit code 8).
 * @throws {RuntimeUnavailableError} The socket is missing, refuses, or its backlog is full.
 * @throws {PermissionError} The socket denies access.
 * @throws {RangeError} The socket path is longer than a `sockaddr_un` holds (107 bytes).
 *
 * @example
 * ```ts
 * const view = await detectPidNamespace({
 *   procRoot: "/proc",
 *   criSocketPath: "/run/containerd/containerd.sock",
 * });
 * if (view.kind === "node") console.log(`pids as pid:[${view.pidnsInode}] sees them`);
 * ```
 */
export async function detectPidNamespace(options: PidNamespaceOptions): Promise<PidNamespaceView> {
  if (await procShowsInitialPidNamespace(options.procRoot)) return { kind: "host" };
  const own = await Deno.stat("/proc/self/ns/pid");
  const pidnsInode = BigInt(own.ino ?? 0);
  const runtimePid = socketPeerPid(options.criSocketPath);
  if (runtimePid === 0) return { kind: "blind", pidnsInode };
  return { kind: "node", pidnsInode, pidnsDev: BigInt(own.dev), runtimePid };
}

/**
 * {@linkcode detectPidNamespace}, and a {@linkcode PidNamespaceError} (exit code 8) instead of
 * a `blind` view: what commands call before they trust a pid.
 *
 * @throws {PidNamespaceError} The runtime is invisible from crienrich's PID namespace, or
 *   `procRoot` cannot be listed; and whatever {@linkcode detectPidNamespace} throws.
 */
export async function requireVisibleRuntime(
  options: PidNamespaceOptions,
): Promise<VisiblePidNamespace> {
  const view = await detectPidNamespace(options);
  if (view.kind !== "blind") return view;
  throw new PidNamespaceError(
    `Cannot see the runtime's processes: crienrich runs in a private PID namespace (pid:[${view.pidnsInode}]) from which the runtime behind "${options.criSocketPath}" is invisible; ${BLIND_HINT}`,
  );
}

/** One line describing a view, for `--debug` and `doctor`. */
export function describePidNamespace(view: PidNamespaceView, procRoot: string): string {
  switch (view.kind) {
    case "host":
      return `"${procRoot}" shows the host's PID namespace`;
    case "node":
      return `private PID namespace pid:[${view.pidnsInode}] (dev ${view.pidnsDev}) that holds the runtime (its pid ${view.runtimePid} here): a node container, pids are this namespace's`;
    case "blind":
      return `private PID namespace pid:[${view.pidnsInode}] from which the runtime is invisible`;
  }
}

/**
 * Tells whether the procfs at `procRoot` shows the initial PID namespace. A procfs lists the
 * tasks of the namespace it was mounted for and of its descendants; it shows the initial
 * namespace exactly when one of its tasks is in it. Looked at, cheapest first: crienrich
 * itself (`self`: in the initial namespace, any procfs that lists it is the host's), pid 1
 * (the init of the procfs's namespace: decisive when readable), then every task until one
 * is in the initial namespace. `ns/pid` links need ptrace read access (ptrace(2), "Ptrace
 * access mode checking"), which root may lack for a task with more capabilities than it
 * has (seen for pid 1 on the lab machines); kernel threads such as kthreadd are readable.
 *
 * @param procRoot A procfs mount, e.g. `/proc` or `/host/proc`.
 * @throws {PidNamespaceError} `procRoot` cannot be listed.
 */
export async function procShowsInitialPidNamespace(procRoot: string): Promise<boolean> {
  const inodeOf = (task: string) =>
    Deno.stat(join(procRoot, task, "ns/pid")).then((s) => BigInt(s.ino ?? 0), () => undefined);
  if (await inodeOf("self") === INIT_PID_NAMESPACE_INODE) return true;
  const init = await inodeOf("1");
  if (init !== undefined) return init === INIT_PID_NAMESPACE_INODE;
  try {
    for await (const entry of Deno.readDir(procRoot)) {
      if (/^\d+$/.test(entry.name) && await inodeOf(entry.name) === INIT_PID_NAMESPACE_INODE) {
        return true;
      }
    }
  } catch (error) {
    const message = `Cannot list processes in "${procRoot}": ${errorMessage(error)}`;
    // Lacking a permission is not a PID namespace problem: say only what is missing.
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new PermissionError(message, { cause: error });
    }
    throw new PidNamespaceError(`${message}; ${BLIND_HINT}`, { cause: error });
  }
  return false;
}

// --- the socket peer, through libc ------------------------------------------------------

/**
 * libc calls for {@linkcode socketPeerPid}. Signatures from the glibc manual pages
 * (socket(2), connect(2), getsockopt(2), close(2), errno(3)); `socklen_t` is 32 bits.
 */
const LIBC_SOCKET_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

// Constants from the kernel's uapi headers (asm-generic values, as on x86-64 and arm64;
// SO_PEERCRED differs on mips, powerpc, parisc and sparc, where crienrich does not ship).
const AF_UNIX = 1; // linux/socket.h
const SOCK_STREAM = 1; // linux/net.h
const SOCK_NONBLOCK = 0o4000; // = O_NONBLOCK: a full backlog fails with EAGAIN, never blocks
const SOCK_CLOEXEC = 0o2000000; // = O_CLOEXEC
const SOL_SOCKET = 1; // asm-generic/socket.h
const SO_PEERCRED = 17; // asm-generic/socket.h
const SUN_PATH_BYTES = 108; // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
const UCRED_BYTES = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }

const ENOENT = 2, EACCES = 13, EAGAIN = 11, EPERM = 1, ECONNREFUSED = 111, ENOTSOCK = 88;
const ERRNO_TEXT: Record<number, string> = {
  [EPERM]: "operation not permitted",
  [ENOENT]: "no such file or directory",
  [EAGAIN]: "the listen backlog is full",
  [EACCES]: "permission denied",
  [ENOTSOCK]: "not a socket",
  [ECONNREFUSED]: "connection refused",
};

let libc: Deno.DynamicLibrary<typeof LIBC_SOCKET_SYMBOLS>["symbols"] | undefined;

/**
 * Returns the pid of the process that listens on the unix socket at `path`, as crienrich's
 * PID namespace numbers it: 0 when that process is not visible from it. The kernel records
 * the listener's credentials at listen(2) time (unix(7), `SO_PEERCRED`), so with systemd
 * socket activation the pid is systemd's.
 *
 * Connects without blocking and closes at once; no byte is sent. Needs `--allow-ffi` and
 * write access to the socket (root for runtime sockets).
 *
 * @param path Absolute path of the socket, at most 107 bytes.
 * @returns The listener's pid in the caller's PID namespace, or 0.
 * @throws {RuntimeUnavailableError} The socket is missing, not a socket, refuses, or its
 *   backlog is full.
 * @throws {PermissionError} Access to the socket is denied.
 * @throws {RangeError} `path` does not fit a `sockaddr_un`.
 *
 * @example
 * ```ts
 * socketPeerPid("/run/containerd/containerd.sock"); // e.g. 812; 0 from a pod without hostPID
 * ```
 */
export function socketPeerPid(path: string): number {
  const encoded = new TextEncoder().encode(path);
  if (encoded.length >= SUN_PATH_BYTES || encoded.includes(0)) {
    throw new RangeError(
      `Cannot connect to socket "${path}": the path must be under ${SUN_PATH_BYTES} bytes`,
    );
  }
  libc ??= Deno.dlopen("libc.so.6", LIBC_SOCKET_SYMBOLS).symbols;
  const c = libc;
  const errno = () => new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw socketError(path, "socket", errno());
  try {
    const address = new Uint8Array(2 + SUN_PATH_BYTES);
    new DataView(address.buffer).setUint16(0, AF_UNIX, true);
    address.set(encoded, 2);
    if (c.connect(fd, address, 2 + encoded.length + 1) < 0) {
      throw socketError(path, "connect", errno());
    }
    const ucred = new Uint8Array(UCRED_BYTES);
    const length = new Uint32Array([UCRED_BYTES]);
    if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, new Uint8Array(length.buffer)) < 0) {
      throw socketError(path, "getsockopt(SO_PEERCRED)", errno());
    }
    return new DataView(ucred.buffer).getInt32(0, true);
  } finally {
    c.close(fd);
  }
}

function socketError(path: string, call: string, errno: number): Error {
  const message = `Cannot read the peer of runtime socket "${path}": ${call}: ${
    ERRNO_TEXT[errno] ?? `errno ${errno}`
  }`;
  return errno === EACCES || errno === EPERM
    ? new PermissionError(message)
    : new RuntimeUnavailableError(message);
}
