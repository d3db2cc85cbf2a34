/**
 * Per-process facts read from procfs (proc(5)): a process's cgroup path and its mount
 * namespace id, the two keys that tie a traced process to its container.
 *
 * Every function takes `procRoot` (default `/proc`) so the tool can read the host's procfs
 * when it runs in a container with the host's `/proc` mounted elsewhere (`--host-root`).
 *
 * @module
 */

import { join } from "node:path";
import { errorMessage, NotFoundError, NotSupportedError, PermissionError } from "../errors.ts";
import { parseProcCgroup } from "./cgroup.ts";

/** On v1-only nodes, the hierarchies whose path names the container, best first. */
const V1_FALLBACK_CONTROLLERS = ["name=systemd", "pids", "memory"] as const;

/**
 * Returns the cgroup path of a process: the cgroup v2 (`0::`) path of `/proc/<pid>/cgroup`,
 * or on v1-only nodes the path of its `name=systemd`, else `pids`, else `memory` hierarchy.
 *
 * @param pid The process id, in `procRoot`'s pid namespace.
 * @param procRoot The procfs mount; default `/proc`.
 * @returns The path, relative to the reader's cgroup namespace root, e.g. `/k8s.io/<id>`;
 *   a removed cgroup's ` (deleted)` mark is dropped.
 * @throws {RangeError} `pid` is not a positive integer.
 * @throws {NotFoundError} The process does not exist.
 * @throws {PermissionError} The file cannot be read for lack of permission.
 * @throws {NotSupportedError} The file has no v2 line and none of the fallback hierarchies.
 * @throws {SyntaxError} The file is not in the cgroups(7) format.
 *
 * @example
 * ```ts
 * const path = await cgroupPathOfPid(Deno.pid); // "/" on a host shell
 * ```
 */
export async function cgroupPathOfPid(pid: number, procRoot = "/proc"): Promise<string> {
  const file = procFile(pid, procRoot, "cgroup");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw wrapProcError(error, `Cannot read cgroup of pid ${pid} "${file}"`);
  }
  const entries = parseProcCgroup(text);
  const v2 = entries.find((e) => e.hierarchyId === 0 && e.controllers.length === 0);
  if (v2) return v2.path;
  for (const controller of V1_FALLBACK_CONTROLLERS) {
    const v1 = entries.find((e) => e.controllers.includes(controller));
    if (v1) return v1.path;
  }
  throw new NotSupportedError(
    `Cannot find cgroup of pid ${pid} in "${file}": no cgroup v2 line and no ${
      V1_FALLBACK_CONTROLLERS.join(", ")
    } hierarchy`,
  );
}

/**
 * Returns the mount namespace id of a process: the inode number of the nsfs file that
 * `/proc/<pid>/ns/mnt` links to (`readlink` shows `mnt:[<id>]`), which is what BPF programs
 * read as `task->nsproxy->mnt_ns->ns.inum`.
 *
 * Reading another user's process needs ptrace read access (root or CAP_SYS_PTRACE).
 *
 * @param pid The process id, in `procRoot`'s pid namespace.
 * @param procRoot The procfs mount; default `/proc`.
 * @returns The namespace inode number, e.g. `4026531840n`.
 * @throws {RangeError} `pid` is not a positive integer.
 * @throws {NotFoundError} The process does not exist (or has exited and is being reaped).
 * @throws {PermissionError} Ptrace access to the process is denied.
 */
export async function mountNamespaceIdOfPid(pid: number, procRoot = "/proc"): Promise<bigint> {
  const file = procFile(pid, procRoot, "ns/mnt");
  let ino: number | null;
  try {
    // stat follows the magic link to the nsfs inode.
    ino = (await Deno.stat(file)).ino;
  } catch (error) {
    throw wrapProcError(error, `Cannot read mount namespace of pid ${pid} "${file}"`);
  }
  if (ino === null) throw new NotSupportedError(`Cannot read inode number of "${file}"`);
  return BigInt(ino);
}

/**
 * Every mount namespace in use by a process, with one process in it: a scan of
 * `<procRoot>/<pid>/ns/mnt` for every pid (one stat each; processes that exit or deny access
 * meanwhile are skipped). Used to find a live process in a namespace and to drop cached
 * verdicts of namespaces that no longer exist.
 *
 * @returns mount namespace id → a pid in it.
 * @throws {Error} only when `procRoot` itself cannot be read.
 */
export async function mountNamespacesInUse(procRoot = "/proc"): Promise<Map<bigint, number>> {
  const inUse = new Map<bigint, number>();
  for await (const entry of Deno.readDir(procRoot)) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const id = await mountNamespaceIdOfPid(pid, procRoot).catch(() => undefined);
    if (id !== undefined && !inUse.has(id)) inUse.set(id, pid);
  }
  return inUse;
}

/** USER_HZ: the unit of the start time in `/proc/<pid>/stat` (proc(5)); 100 on Linux. */
const CLOCK_TICKS_PER_SECOND = 100n;

/**
 * When a process started, in ns of CLOCK_BOOTTIME (the clock of BPF events' `tsBootNs`):
 * field 22 (`starttime`) of `/proc/<pid>/stat`, counted in clock ticks since boot, so the
 * resolution is 10 ms.
 *
 * @param pid The process id, in `procRoot`'s pid namespace.
 * @param procRoot The procfs mount; default `/proc`.
 * @throws {RangeError} `pid` is not a positive integer.
 * @throws {NotFoundError} The process does not exist.
 * @throws {SyntaxError} The file is not in proc(5)'s format.
 */
export async function processStartBootNs(pid: number, procRoot = "/proc"): Promise<bigint> {
  const file = procFile(pid, procRoot, "stat");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw wrapProcError(error, `Cannot read start time of pid ${pid} "${file}"`);
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = fields[19];
  if (ticks === undefined || !/^\d+$/.test(ticks)) {
    throw new SyntaxError(`Cannot parse start time in "${file}"`);
  }
  return BigInt(ticks) * (1_000_000_000n / CLOCK_TICKS_PER_SECOND);
}

function procFile(pid: number, procRoot: string, name: string): string {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`Cannot use pid ${pid}: expected a positive integer`);
  }
  return join(procRoot, String(pid), name);
}

function wrapProcError(error: unknown, action: string): Error {
  const message = `${action}: ${errorMessage(error)}`;
  if (error instanceof Deno.errors.NotFound) {
    return new NotFoundError(`${action}: no such process`, { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new PermissionError(message, { cause: error });
  }
  return new Error(message, { cause: error });
}

/**
 * crienrich's own process id as the procfs at `procRoot` numbers it (`<procRoot>/self`):
 * the PID namespace the tracer reports ids in (the host's with `--host-root`, a kind node's
 * inside one), which is not always the one crienrich runs in. `Deno.pid` when that procfs
 * has no `self` for this process.
 */
export function ownPidIn(procRoot = "/proc"): number {
  try {
    const pid = Number(Deno.readLinkSync(join(procRoot, "self")));
    if (Number.isInteger(pid) && pid > 0) return pid;
  } catch {
    // Not mounted for this PID namespace: fall back.
  }
  return Deno.pid;
}

/**
 * Ids of the BPF programs process `pid` holds open (sorted): each fd whose link is
 * `anon_inode:bpf-prog` has a `prog_id:` line in its fdinfo. (This bpftool is built without
 * the `pids` field of `prog show`, so the owner is found from the process side.)
 */
export function bpfProgramIds(pid: number | "self"): number[] {
  const ids = new Set<number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`) !== "anon_inode:bpf-prog") continue;
      const info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${entry.name}`);
      const match = /^prog_id:\s+(\d+)$/m.exec(info);
      if (match) ids.add(Number(match[1]));
    } catch {
      // The fd closed meanwhile.
    }
  }
  return [...ids].sort((a, b) => a - b);
}
