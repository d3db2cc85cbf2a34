/**
 * The shape of one `doctor` check and its result.
 *
 * A check never throws: {@linkcode runChecks} turns anything a check throws into a `fail`
 * line, so a broken node shows up as a report, not a stack trace.
 *
 * @module
 */
import type { ExitCode } from "../errors.ts";
import type { EventKind } from "../bpf/event.ts";

/**
 * Verdict of one check: `ok`; `warn` (works, with a caveat worth knowing); `fail` (crienrich
 * cannot do its job until this is fixed); `skip` (not tried because a check it depends on
 * failed: fix that one first).
 */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** One line of the report. JSON field names are part of `doctor -o json`. */
export interface CheckResult {
  /** Stable check name, e.g. `privileges`, `runtime`, `bpf`. */
  name: string;
  status: CheckStatus;
  /** What was found, one line. */
  detail: string;
  /** What to do about a `warn` or `fail`, one line; `null` when nothing is to be done. */
  hint: string | null;
  /**
   * Exit code a `fail` stands for (README "Exit codes"): 4 permission, 3 runtime, 6 node
   * cannot trace. Not printed; `doctor` exits with the first failed check's code.
   */
  exitCode?: ExitCode;
}

/** A check's verdict, before the runner names it. */
export type Outcome = Omit<CheckResult, "name">;

/** What every check may look at: the command's flags. */
export interface DoctorOptions {
  /** libbpf to load instead of the default search (`--libbpf PATH`). */
  libbpfPath?: string;
  /** `--runtime-endpoint`: only this endpoint is tried. */
  runtimeEndpoint?: string;
  /** Deadline of each CRI call, in milliseconds. */
  timeoutMs: number;
  /** `--host-root`: where the host's `/` is mounted (runtime sockets, crictl.yaml). */
  hostRoot?: string;
  /**
   * `--events`: the kinds the operator will trace; their tracepoints must exist (fail).
   * Default: every kind, a missing tracepoint only warns (that kind cannot be traced).
   */
  events?: ReadonlySet<EventKind>;
}

/** One check: a name, the checks whose failure makes it pointless, and the probe. */
export interface Check {
  name: string;
  /** Names of earlier checks; when one of them failed this check is skipped. */
  needs?: readonly string[];
  run(options: DoctorOptions): Outcome | Promise<Outcome>;
}

/** An `ok` outcome. */
export const ok = (detail: string): Outcome => ({ status: "ok", detail, hint: null });
/** A `warn` outcome. */
export const warn = (detail: string, hint: string | null): Outcome => ({
  status: "warn",
  detail,
  hint,
});
/** A `fail` outcome standing for exit code `exitCode`. */
export const fail = (detail: string, hint: string | null, exitCode: ExitCode): Outcome => ({
  status: "fail",
  detail,
  hint,
  exitCode,
});
