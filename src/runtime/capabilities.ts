/**
 * Linux capabilities (capabilities(7)) that a trace needs, read from this process's
 * effective set (`CapEff:` of `/proc/self/status`).
 *
 * - Loading and attaching the BPF programs: `CAP_BPF` and `CAP_PERFMON` (Linux 5.8+), or
 *   `CAP_SYS_ADMIN` (any kernel).
 * - Reading other processes' `/proc/<pid>/ns/mnt` and `/proc/<pid>/stat` (to tell which
 *   running container holds a mount namespace): `CAP_SYS_PTRACE`. Without it even uid 0
 *   is refused for processes whose permitted capabilities exceed its own (ptrace(2),
 *   "Ptrace access mode checking"), which is every container's init.
 * - Mounting tracefs when it is not mounted: `CAP_SYS_ADMIN` (checked where it is done).
 *
 * @module
 */

/** Capability bit numbers (include/uapi/linux/capability.h). */
export const CAP_SYS_PTRACE = 19;
/** Administration: mount(2), and BPF before Linux 5.8. */
export const CAP_SYS_ADMIN = 21;
/** Performance monitoring: perf_event_open(2), BPF tracing attach (Linux 5.8). */
export const CAP_PERFMON = 38;
/** BPF programs and maps without CAP_SYS_ADMIN (Linux 5.8). */
export const CAP_BPF = 39;

/**
 * Reads the effective capability set from the text of `/proc/<pid>/status` (proc(5): the
 * `CapEff:` line, 16 hex digits).
 *
 * @example parseCapEff("CapEff:\t000001fffeffffff\n") // 0x1fffeffffffn
 * @throws {SyntaxError} when there is no `CapEff:` line with a hex number.
 */
export function parseCapEff(statusText: string): bigint {
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!match?.[1]) throw new SyntaxError("Cannot find a CapEff line in /proc/self/status");
  return BigInt(`0x${match[1]}`);
}

/** True when capability `bit` is in the set `caps`. */
export function hasCapability(caps: bigint, bit: number): boolean {
  return ((caps >> BigInt(bit)) & 1n) === 1n;
}

/**
 * What a trace needs that `capEff` lacks, each as "CAP_X (what for)"; empty when nothing.
 *
 * @example missingTraceCapabilities(0n)[0] // "CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (loading the BPF programs)"
 */
export function missingTraceCapabilities(capEff: bigint): string[] {
  const missing: string[] = [];
  const bpf = hasCapability(capEff, CAP_SYS_ADMIN) ||
    (hasCapability(capEff, CAP_BPF) && hasCapability(capEff, CAP_PERFMON));
  if (!bpf) missing.push("CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (loading the BPF programs)");
  if (!hasCapability(capEff, CAP_SYS_PTRACE)) {
    missing.push("CAP_SYS_PTRACE (reading other processes' mount namespaces)");
  }
  return missing;
}

/** This process's effective capability set. @throws {SyntaxError} on an odd status file. */
export function ownCapEff(): bigint {
  return parseCapEff(Deno.readTextFileSync("/proc/self/status"));
}
