/**
 * tracefs and the tracepoints the BPF programs of each event kind attach to.
 *
 * libbpf resolves a `tracepoint/<category>/<name>` section through
 * `<tracefs>/events/<category>/<name>/id`, so tracefs must be mounted. A fresh node may
 * have none; the tracer then mounts it at `/sys/kernel/tracing`, and so
 * does this check, the same way (mount(2) through the FFI table in `src/bpf/libbpf.ts`).
 *
 * @module
 */
import { errorMessage, ExitCode } from "../errors.ts";
import { BpfError, EPERM, errnoText } from "../bpf/errno.ts";
import { openLibbpf } from "../bpf/libbpf.ts";
import { TRACEFS_PATH } from "../bpf/prerequisites.ts";
import { tracepointsFor } from "../bpf/programs.ts";
import { EVENT_KINDS, type EventKind } from "../bpf/event.ts";
import { type Check, type DoctorOptions, fail, ok, warn } from "./check.ts";

/** tracefs inside debugfs; libbpf 1.1 prefers it when present (as src/bpf/prerequisites.ts). */
const DEBUGFS_TRACING_PATH = "/sys/kernel/debug/tracing";
const TRACEFS_DIRS = [DEBUGFS_TRACING_PATH, TRACEFS_PATH] as const;
const MOUNT_HINT = `mount -t tracefs tracefs ${TRACEFS_PATH}`;

/**
 * Returns the mount points of every tracefs in a mountinfo text (proc(5): the filesystem
 * type follows the ` - ` separator; the mount point is field 5).
 *
 * @example tracefsMounts("42 23 0:13 / /sys/kernel/tracing rw - tracefs tracefs rw") // ["/sys/kernel/tracing"]
 */
export function tracefsMounts(mountinfoText: string): string[] {
  return mountinfoText.split("\n").flatMap((line) => {
    const [left = "", right = ""] = line.split(" - ");
    const mountPoint = left.split(" ")[4];
    return right.split(" ")[0] === "tracefs" && mountPoint ? [mountPoint] : [];
  });
}

/** True when `path` exists; false when not; throws other errors (PermissionDenied). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Check `tracefs`: mounted, or mounted now (as root). Not root and not mounted: `fail`
 * (exit code 4), since the tracer could not mount it either.
 */
export const tracefsCheck: Check = {
  name: "tracefs",
  run(options) {
    const mounts = tracefsMounts(Deno.readTextFileSync("/proc/self/mountinfo"));
    if (mounts.length > 0) return ok(`mounted at ${mounts.join(", ")}`);
    if (Deno.uid() !== 0) {
      return fail(
        `not mounted (no tracefs in /proc/self/mountinfo), and mounting it needs root`,
        `run as root (crienrich mounts it), or: ${MOUNT_HINT}`,
        ExitCode.PermissionDenied,
      );
    }
    // debugfs's automount appears in mountinfo only once something looks inside.
    const found = TRACEFS_DIRS.find((dir) => exists(`${dir}/events`));
    if (found) return ok(`mounted at ${found}`);
    try {
      openLibbpf(options.libbpfPath).mount("tracefs", TRACEFS_PATH, "tracefs");
    } catch (error) {
      const detail = error instanceof BpfError ? errnoText(error.errno) : errorMessage(error);
      const denied = error instanceof BpfError && error.errno === EPERM;
      return fail(
        `not mounted, and mounting it at "${TRACEFS_PATH}" failed: ${detail}`,
        denied ? `add CAP_SYS_ADMIN, or: ${MOUNT_HINT}` : MOUNT_HINT,
        denied ? ExitCode.PermissionDenied : ExitCode.NotSupported,
      );
    }
    return ok(`was not mounted: mounted it at ${TRACEFS_PATH} (as trace would)`);
  },
};

/** The kinds `doctor` checks: `--events`, or all of them. */
export const kindsToCheck = (options: DoctorOptions): ReadonlySet<EventKind> =>
  options.events ?? new Set(EVENT_KINDS);

/** The kinds of `kindsToCheck(options)` whose tracepoints all exist in a tracefs here. */
export function availableKinds(options: DoctorOptions): Set<EventKind> {
  const present = (tp: string) =>
    TRACEFS_DIRS.some((dir) => {
      try {
        return exists(`${dir}/events/${tp}/id`);
      } catch {
        return false;
      }
    });
  return new Set(
    [...kindsToCheck(options)].filter((kind) =>
      tracepointsFor(new Set([kind])).every(({ tracepoint }) => present(tracepoint))
    ),
  );
}

/**
 * Check `tracepoints`: each tracepoint the event kinds need has an id in tracefs. Missing
 * for a kind named by `--events` (or for any trace): `fail` naming it; missing for a kind
 * only checked by default: `warn` (that kind cannot be traced here, the others can).
 */
export const tracepointsCheck: Check = {
  name: "tracepoints",
  needs: ["tracefs"],
  run(options) {
    const id = (dir: string, tp: string) => `${dir}/events/${tp}/id`;
    const needed = tracepointsFor(kindsToCheck(options));
    let dir: string;
    try {
      dir = TRACEFS_DIRS.find((d) => exists(id(d, needed[0]!.tracepoint))) ?? TRACEFS_PATH;
    } catch (error) {
      if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
      return fail(
        `cannot look into tracefs: ${errorMessage(error)}`,
        "run as root",
        ExitCode.PermissionDenied,
      );
    }
    const found: string[] = [];
    const unavailable: string[] = [];
    for (const { tracepoint: tp, kinds } of needed) {
      let text: string;
      try {
        text = Deno.readTextFileSync(id(dir, tp));
      } catch (error) {
        if (error instanceof Deno.errors.PermissionDenied) {
          return fail(
            `cannot read "${id(dir, tp)}": permission denied`,
            "run as root",
            ExitCode.PermissionDenied,
          );
        }
        const what = kinds.length ? `${kinds.join(" and ")} events need` : "every trace needs";
        if (options.events || kinds.length === 0) {
          return fail(
            `tracepoint ${tp} is missing (${what} it; "${id(dir, tp)}": ${errorMessage(error)})`,
            kinds.length
              ? `trace without ${kinds.join(", ")}, or use a kernel that has ${tp}`
              : "use a kernel built with CONFIG_TRACEPOINTS (every distribution kernel is)",
            ExitCode.NotSupported,
          );
        }
        unavailable.push(`${tp} (${what} it)`);
        continue;
      }
      found.push(`${tp} (id ${text.trim()})`);
    }
    if (unavailable.length) {
      return warn(
        `missing: ${unavailable.join(", ")}; present: ${found.join(", ")} in ${dir}`,
        "those kinds cannot be traced on this kernel; the others can",
      );
    }
    return ok(`${found.join(", ")} in ${dir}`);
  },
};
