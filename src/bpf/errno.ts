/**
 * libbpf's error convention turned into JavaScript errors, in one place.
 *
 * libbpf 1.x returns `-errno` from int-returning calls and `NULL` with `errno` set from
 * pointer-returning ones (libbpf's "strict mode", the only mode since 1.0: see
 * `libbpf_err()` in libbpf's `src/libbpf_internal.h`). {@linkcode bpfError} maps both to a
 * {@linkcode BpfError} naming the libbpf function and the errno, or to a
 * `PermissionError` for `EPERM`, the kernel's answer to a caller without CAP_BPF.
 *
 * @module
 */

import { PermissionError, ResourceError } from "../errors.ts";

/** Linux x86-64 errno values libbpf and bpf(2) return, with the glibc strerror(3) text. */
const ERRNOS: Record<number, [name: string, text: string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  7: ["E2BIG", "argument list too long"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  19: ["ENODEV", "no such device"],
  22: ["EINVAL", "invalid argument"],
  24: ["EMFILE", "too many open files"],
  28: ["ENOSPC", "no space left on device"],
  34: ["ERANGE", "numerical result out of range"],
  38: ["ENOSYS", "function not implemented"],
  95: ["EOPNOTSUPP", "operation not supported"],
  // Kernel-internal, leaks out of bpf(2) for helpers or attach types a kernel lacks.
  524: ["ENOTSUPP", "operation not supported by this kernel"],
  // libbpf's own codes (LIBBPF_ERRNO__*, libbpf.h).
  4001: ["LIBBPF_ERRNO__LIBELF", "something wrong in libelf"],
  4003: ["LIBBPF_ERRNO__FORMAT", "BPF object format invalid"],
  4007: ["LIBBPF_ERRNO__PROG2BIG", "program too big"],
  4008: ["LIBBPF_ERRNO__KVER", "incorrect kernel version"],
  4009: ["LIBBPF_ERRNO__VERIFY", "kernel verifier blocks program loading"],
  4012: ["LIBBPF_ERRNO__NLPARSE", "netlink parse error"],
};

/** errno value of EPERM (asm-generic/errno-base.h). */
export const EPERM = 1;
/** ENOMEM: the kernel could not allocate memory (a map, a perf ring). */
export const ENOMEM = 12;
/** errno value of ENOENT (asm-generic/errno-base.h). */
export const ENOENT = 2;

/**
 * Returns the symbolic name and description of an errno value, e.g.
 * `errnoText(1) === "EPERM (operation not permitted)"`; unknown values give `"errno 42"`.
 */
export function errnoText(errno: number): string {
  const known = ERRNOS[errno];
  return known ? `${known[0]} (${known[1]})` : `errno ${errno}`;
}

/** A libbpf or libc call failed; `fn` names it and `errno` is the positive errno value. */
export class BpfError extends Error {
  /** The C function that failed, e.g. `"bpf_object__load"`. */
  readonly fn: string;
  /** Positive errno value (libbpf returns it negated). */
  readonly errno: number;
  /** libbpf's own warning messages printed during the call, oldest first (may be empty). */
  readonly log: readonly string[];
  constructor(fn: string, errno: number, log: readonly string[] = [], options?: ErrorOptions) {
    const detail = log.length ? `: ${log[log.length - 1]}` : "";
    super(`${fn} failed: ${errnoText(errno)}${detail}`, options);
    this.name = "BpfError";
    this.fn = fn;
    this.errno = errno;
    this.log = log;
  }
}

/**
 * Builds the error for a failed call: a {@linkcode BpfError}, or for `EPERM` a
 * `PermissionError` (exit code 4), for `ENOMEM` a `ResourceError` (exit code 9), whose
 * `cause` is the BpfError.
 *
 * @param fn the C function that failed
 * @param errno the errno, positive or negative (libbpf returns `-errno`)
 * @param log libbpf's messages printed during the call
 */
export function bpfError(fn: string, errno: number, log: readonly string[] = []): Error {
  const error = new BpfError(fn, Math.abs(errno), log);
  if (error.errno === EPERM) {
    return new PermissionError(
      `Cannot use BPF: ${error.message}: run as root (or with CAP_BPF and CAP_PERFMON)`,
      { cause: error },
    );
  }
  if (error.errno === ENOMEM) {
    return new ResourceError(
      `Cannot allocate kernel memory: ${error.message}: lower --buffer-pages`,
      { cause: error },
    );
  }
  return error;
}
