/**
 * Shared by the kernel tests: whether this machine can run them, and a collector.
 *
 * Real tests need root and kernel BTF. Elsewhere they are skipped with a message, except
 * under `CI=true`, where CI runs as root on a real kernel: there a test that cannot run
 * fails instead (see the style guide, section 7).
 *
 * @module
 */

import type { ProcessTracer, TraceEvent } from "../../src/bpf/mod.ts";

/** True under CI, where kernel tests must run. */
export const CI = Deno.env.get("CI") === "true";

function unavailableReason(): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return `not root (uid ${Deno.uid()})`;
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "no kernel BTF at /sys/kernel/btf/vmlinux";
  }
  return null;
}

/** Why kernel tests cannot run here, or null when they can. */
export const KERNEL_UNAVAILABLE = unavailableReason();

/** `ignore` for kernel tests: skipped outside CI when the kernel is unavailable. */
export const IGNORE_KERNEL = KERNEL_UNAVAILABLE !== null && !CI;
if (IGNORE_KERNEL) {
  Deno.stderr.writeSync(
    new TextEncoder().encode(`tests/bpf: skipping kernel tests: ${KERNEL_UNAVAILABLE}\n`),
  );
}

/** Fails the calling test when the kernel is unavailable (reached only under CI). */
export function requireKernel(): void {
  if (KERNEL_UNAVAILABLE) throw new Error(`Cannot run kernel test: ${KERNEL_UNAVAILABLE}`);
}

/** Events and lost-sample count gathered by {@linkcode collect}. */
export interface Collected {
  events: TraceEvent[];
  samples: Uint8Array[];
  lost: bigint;
}

/**
 * Polls `tracer` until `done(collected)` is true or `timeoutMs` passed, then once more for
 * `settleMs` (to see what should NOT arrive).
 */
export async function collect(
  tracer: ProcessTracer,
  timeoutMs: number,
  done: (c: Collected) => boolean = () => false,
  into: Collected = { events: [], samples: [], lost: 0n },
): Promise<Collected> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !done(into)) {
    await tracer.poll(50, (e, raw) => {
      if (e.type === "cgroup") return;
      into.events.push(e);
      into.samples.push(raw);
    }, (_cpu, n) => into.lost += n);
  }
  return into;
}

/** Runs a command to completion, returning its stdout. */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Parses `mnt:[4026531840]`. */
export function parseMntns(link: string): bigint {
  const m = /mnt:\[(\d+)\]/.exec(link);
  if (!m?.[1]) throw new Error(`Cannot parse mount namespace link "${link}"`);
  return BigInt(m[1]);
}
