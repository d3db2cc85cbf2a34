/**
 * The kernel: its version, and the BTF CO-RE relocations are resolved against.
 *
 * Version thresholds, from the helpers `bpf/crienrich.bpf.c` calls (bcc
 * `docs/kernel-versions.md`, which cites each kernel commit) and capabilities(7):
 *
 * | kernel | what it brings | verdict below it |
 * | --- | --- | --- |
 * | 5.8 | `bpf_ktime_get_boot_ns()` (commit 71d19214776e), `CAP_BPF`/`CAP_PERFMON` | `warn`: loads only where the distribution backported them (RHEL 8's 4.18 does); the `bpf` check decides |
 * | 4.18 | BTF (commit 69b693f0aefa), `bpf_get_current_cgroup_id()` | `fail`: no kernel this old carries what the object needs |
 *
 * @module
 */
import { ExitCode } from "../errors.ts";
import { KERNEL_BTF_PATH } from "../bpf/prerequisites.ts";
import { type Check, fail, ok, type Outcome, warn } from "./check.ts";

/** Below this, the object loads only with backports: a `warn`. */
export const KERNEL_RECOMMENDED: readonly [number, number] = [5, 8];
/** Below this, the object cannot load: a `fail`. */
export const KERNEL_MINIMUM: readonly [number, number] = [4, 18];

/**
 * Reads major and minor from a kernel release (`uname -r`, `Deno.osRelease()`).
 *
 * @example parseKernelRelease("6.1.0-18-amd64") // [6, 1]
 * @returns `undefined` when the release does not start with `major.minor`.
 */
export function parseKernelRelease(release: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(release);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

const below = (v: readonly [number, number], limit: readonly [number, number]) =>
  v[0] < limit[0] || (v[0] === limit[0] && v[1] < limit[1]);

/** Judges a kernel release against {@linkcode KERNEL_RECOMMENDED} and {@linkcode KERNEL_MINIMUM}. */
export function judgeKernel(release: string): Outcome {
  const version = parseKernelRelease(release);
  if (!version) {
    return warn(`cannot parse kernel release "${release}"`, "the bpf check below decides");
  }
  if (below(version, KERNEL_MINIMUM)) {
    return fail(
      `${release} is older than ${KERNEL_MINIMUM.join(".")}: no BTF, no bpf_get_current_cgroup_id`,
      `upgrade the node's kernel to ${KERNEL_RECOMMENDED.join(".")} or later`,
      ExitCode.NotSupported,
    );
  }
  if (below(version, KERNEL_RECOMMENDED)) {
    return warn(
      `${release} is older than ${KERNEL_RECOMMENDED.join(".")}: no CAP_BPF, and ` +
        `bpf_ktime_get_boot_ns only if the distribution backported it`,
      `the bpf check below decides; kernel ${KERNEL_RECOMMENDED.join(".")} or later is supported`,
    );
  }
  return ok(`${release} (${KERNEL_RECOMMENDED.join(".")} or later)`);
}

/** Check `kernel`: the running kernel's release. */
export const kernelCheck: Check = { name: "kernel", run: () => judgeKernel(Deno.osRelease()) };

/** Check `btf`: the kernel's own BTF exists (CONFIG_DEBUG_INFO_BTF). */
export const btfCheck: Check = {
  name: "btf",
  run() {
    let size: number;
    try {
      size = Deno.statSync(KERNEL_BTF_PATH).size;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      return fail(
        `"${KERNEL_BTF_PATH}" is missing: the kernel was built without CONFIG_DEBUG_INFO_BTF`,
        "use a kernel with BTF: the default of Debian 11, Ubuntu 20.10, RHEL 8.2, Fedora 31 and later",
        ExitCode.NotSupported,
      );
    }
    return ok(`${KERNEL_BTF_PATH} (${(size / 2 ** 20).toFixed(1)} MiB)`);
  },
};
