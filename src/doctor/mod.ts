/**
 * `crienrich doctor`'s checks: can this node run crienrich, and if not, what to fix.
 *
 * The checks run in dependency order, one line each ({@linkcode CheckResult}):
 *
 * | check | looks at | fails with |
 * | --- | --- | --- |
 * | `privileges` | uid and `CapEff` (root, or CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN) | 4 |
 * | `kernel` | release: warn below 5.8, fail below 4.18 | 6 |
 * | `btf` | `/sys/kernel/btf/vmlinux` | 6 |
 * | `tracefs` | mounted, else mounted now when root | 4 or 6 |
 * | `tracepoints` | those of each event kind (`src/bpf/programs.ts`) | 6 |
 * | `cgroups` | v2, hybrid (ok) or v1-only (warn) | — |
 * | `libbpf` | loads, version | 6 |
 * | `runtime` | every endpoint's version call (CRI, Docker Engine, Podman); names each found | 3 or 4 |
 * | `pid-namespace` | `/proc` shows the host's PID namespace, or one holding the runtime | 8 |
 * | `bpf` | the tracer opens, attaches and closes | 4, 6 or 1 |
 *
 * @module
 */
import { errorMessage, ExitCode } from "../errors.ts";
import type { Check, CheckResult, DoctorOptions } from "./check.ts";
import { privilegesCheck } from "./privileges.ts";
import { btfCheck, kernelCheck } from "./kernel.ts";
import { tracefsCheck, tracepointsCheck } from "./tracing.ts";
import { cgroupsCheck } from "./cgroups.ts";
import { bpfCheck, libbpfCheck } from "./bpf.ts";
import { runtimeCheck } from "./runtime.ts";
import { pidNamespaceCheck } from "./pid_namespace.ts";

export type { Check, CheckResult, CheckStatus, DoctorOptions, Outcome } from "./check.ts";

/** Every check, in the order they run and print. */
export const CHECKS: readonly Check[] = [
  privilegesCheck,
  kernelCheck,
  btfCheck,
  tracefsCheck,
  tracepointsCheck,
  cgroupsCheck,
  libbpfCheck,
  runtimeCheck,
  pidNamespaceCheck,
  bpfCheck,
];

/**
 * Runs `checks` in order, yielding each result as soon as it is known. A check that throws
 * becomes a `fail` line (exit code 1) with the error's message; a check whose `needs`
 * include a failed check is `skip`ped. Never throws.
 *
 * Needs what the checks need: root for most of them, `--allow-ffi`, `--allow-read`,
 * `--allow-sys`, `--allow-run=bpftool`, and the runtime sockets.
 *
 * @example
 * ```ts
 * for await (const r of runChecks({ timeoutMs: 3000 })) console.log(r.name, r.status);
 * ```
 */
export async function* runChecks(
  options: DoctorOptions,
  checks: readonly Check[] = CHECKS,
): AsyncGenerator<CheckResult> {
  const failed = new Set<string>();
  for (const check of checks) {
    const blocker = check.needs?.find((name) => failed.has(name));
    let result: CheckResult;
    if (blocker) {
      result = { name: check.name, status: "skip", detail: `needs ${blocker}`, hint: null };
    } else {
      try {
        result = { name: check.name, ...await check.run(options) };
      } catch (error) {
        result = {
          name: check.name,
          status: "fail",
          detail: `check failed: ${errorMessage(error).split("\n")[0]}`,
          hint: "please report this message",
          exitCode: ExitCode.Failure,
        };
      }
    }
    if (result.status === "fail" || result.status === "skip") failed.add(check.name);
    yield result;
  }
}

/**
 * The exit code of a report: that of the first failed check (the root cause, since checks
 * run in dependency order), 0 when none failed. A `fail` without a code counts as 1.
 */
export function reportExitCode(results: readonly CheckResult[]): ExitCode {
  const first = results.find((r) => r.status === "fail");
  return first ? first.exitCode ?? ExitCode.Failure : ExitCode.Ok;
}

/** The one-line summary: `9 ok, 0 warn, 0 fail`, plus `, N skipped` when any were. */
export function summarize(results: readonly CheckResult[]): string {
  const count = (status: string) => results.filter((r) => r.status === status).length;
  const skipped = count("skip");
  return `${count("ok")} ok, ${count("warn")} warn, ${count("fail")} fail` +
    (skipped ? `, ${skipped} skipped` : "");
}
