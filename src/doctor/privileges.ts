/**
 * Privileges: is this process root with the capabilities loading BPF tracepoint programs
 * needs?
 *
 * Since Linux 5.8, `CAP_BPF` (load programs, create maps) plus `CAP_PERFMON` (attach to
 * tracepoints, read kernel memory) suffice; before, only `CAP_SYS_ADMIN` did, and it still
 * does (capabilities(7), "CAP_BPF (since Linux 5.8)"). Mounting tracefs needs
 * `CAP_SYS_ADMIN` in any case (mount(2)). crienrich itself also insists on uid 0: it reads
 * other processes' `/proc/<pid>/ns/mnt` and root-owned CRI sockets.
 *
 * @module
 */
import { ExitCode } from "../errors.ts";
import {
  CAP_BPF,
  CAP_PERFMON,
  CAP_SYS_ADMIN,
  CAP_SYS_PTRACE,
  hasCapability,
  missingTraceCapabilities,
  parseCapEff,
} from "../runtime/capabilities.ts";

export { CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, parseCapEff };
import { type Check, fail, ok, type Outcome, warn } from "./check.ts";

const NAMES: readonly [number, string][] = [
  [CAP_BPF, "CAP_BPF"],
  [CAP_PERFMON, "CAP_PERFMON"],
  [CAP_SYS_ADMIN, "CAP_SYS_ADMIN"],
  [CAP_SYS_PTRACE, "CAP_SYS_PTRACE"],
];

const has = hasCapability;

/**
 * Judges a uid and effective capability set:
 * - uid 0 with `CAP_SYS_ADMIN`, or `CAP_BPF` and `CAP_PERFMON`, and `CAP_SYS_PTRACE`
 *   (the set `trace` checks, `missingTraceCapabilities`): `ok`;
 * - uid 0 with the BPF ones but not `CAP_SYS_PTRACE`: `fail`, exit code 4;
 * - another uid with those capabilities: `warn` (the kernel would allow it, crienrich
 *   requires uid 0; the `bpf` check then fails);
 * - anything else: `fail`, exit code 4.
 */
export function judgePrivileges(uid: number, capEff: bigint): Outcome {
  const hex = capEff.toString(16).padStart(16, "0");
  const present = NAMES.filter(([bit]) => has(capEff, bit)).map(([, name]) => name);
  const enough = has(capEff, CAP_SYS_ADMIN) || (has(capEff, CAP_BPF) && has(capEff, CAP_PERFMON));
  const caps = present.length
    ? `has ${present.join(", ")}`
    : "has none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE";
  const missing = missingTraceCapabilities(capEff);
  if (uid === 0 && missing.length === 0) return ok(`uid 0, CapEff ${hex} ${caps}`);
  if (uid === 0 && enough) {
    return fail(
      `uid 0, CapEff ${hex} ${caps}, but lacks ${missing.join(", ")}`,
      "add the capability SYS_PTRACE (deploy/daemonset.yaml has it)",
      ExitCode.PermissionDenied,
    );
  }
  if (uid === 0) {
    return fail(
      `uid 0 but CapEff ${hex} lacks CAP_SYS_ADMIN and CAP_BPF+CAP_PERFMON (an unprivileged container?)`,
      "run privileged (securityContext.privileged: true) or add the capabilities SYS_ADMIN, BPF, PERFMON",
      ExitCode.PermissionDenied,
    );
  }
  if (enough) {
    return warn(
      `uid ${uid}, CapEff ${hex} ${caps}: the kernel allows BPF, but crienrich requires uid 0`,
      "run as root",
    );
  }
  return fail(
    `uid ${uid}, CapEff ${hex} ${caps}`,
    "run as root (sudo crienrich doctor), or in a pod with hostPID and CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN (deploy/daemonset.yaml)",
    ExitCode.PermissionDenied,
  );
}

/** Check `privileges`: uid and `CapEff` of this process. */
export const privilegesCheck: Check = {
  name: "privileges",
  run: () =>
    judgePrivileges(Deno.uid() ?? -1, parseCapEff(Deno.readTextFileSync("/proc/self/status"))),
};
