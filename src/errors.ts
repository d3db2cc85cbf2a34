/**
 * Error classes that carry an exit code, and the exit-code table.
 *
 * Library code throws these; only `src/main.ts` catches them, prints the message as one
 * line on stderr and exits with {@linkcode ExitCode}. Any other error is a bug and exits
 * with {@linkcode ExitCode.Failure}. The README's exit-code table mirrors this enum.
 *
 * @module
 */

/** Process exit codes: a contract for scripts (see README "Exit codes"). */
export enum ExitCode {
  /** Success; also a trace stopped by Ctrl-C, SIGTERM, `--count` or `--duration`. */
  Ok = 0,
  /** Unexpected failure (a bug, or an error with no better class). */
  Failure = 1,
  /** Bad command line: unknown command or flag, bad value, unsupported endpoint scheme. */
  Usage = 2,
  /** No usable container runtime: socket missing, not a socket, no answer, not CRI. */
  RuntimeUnavailable = 3,
  /** Permission denied: not root, missing capability, socket not accessible. */
  PermissionDenied = 4,
  /** The named pod, container, pid or cgroup does not exist, or a prefix is ambiguous. */
  NotFound = 5,
  /** The kernel or node cannot run the tracer: no BTF, no libbpf, no tracepoint, old kernel. */
  NotSupported = 6,
  /** `trace --until` ended (timeout or count) without seeing the awaited exec. */
  WaitTimedOut = 7,
  /**
   * crienrich runs in a private PID namespace from which the runtime's processes are
   * invisible (no `hostPID: true`, no `--pid=host`, no `--host-root` with the host's proc).
   */
  PidNamespaceBlind = 8,
  /**
   * The kernel refused a resource the run needs (ENOMEM creating the perf buffer): the
   * node is short of memory, or `--buffer-pages` asks for more than it can give.
   */
  ResourceExhausted = 9,
}

/** Base class: an error whose message is fit for one stderr line and has an exit code. */
export class CliError extends Error {
  /** Exit code `src/main.ts` uses for this error. */
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad command line or bad flag value. Exit code 2. */
export class UsageError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** No container runtime answered the CRI, or the named one cannot be used. Exit code 3. */
export class RuntimeUnavailableError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.RuntimeUnavailable, options);
  }
}

/** The tool lacks a privilege it needs (root, CAP_BPF, a socket's mode). Exit code 4. */
export class PermissionError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.PermissionDenied, options);
  }
}

/** A named pod, container, pid or cgroup id matched nothing, or too much. Exit code 5. */
export class NotFoundError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.NotFound, options);
  }
}

/** The node cannot run the tracer (no BTF, no libbpf, missing tracepoint). Exit code 6. */
export class NotSupportedError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.NotSupported, options);
  }
}

/** `trace --until` did not see the awaited event in time. Exit code 7. */
export class WaitTimeoutError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.WaitTimedOut, options);
  }
}

/**
 * crienrich's `/proc` cannot show the runtime's processes: it runs in a private PID
 * namespace without the runtime (`src/runtime/pid_namespace.ts`). Exit code 8.
 */
export class PidNamespaceError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.PidNamespaceBlind, options);
  }
}

/**
 * The kernel could not give a resource the run asked for, e.g. ENOMEM when creating the
 * perf buffer (`--buffer-pages` × CPUs × 4 KiB of locked memory). Exit code 9.
 */
export class ResourceError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.ResourceExhausted, options);
  }
}

/** Returns the message of any thrown value, for wrapping: `read sample: ${errorMessage(e)}`. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
