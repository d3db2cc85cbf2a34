/**
 * crienrich's kernel side: exec and exit events from two sched tracepoints, filtered by
 * mount namespace in the kernel, read through libbpf 1.x over FFI.
 *
 * - {@linkcode ProcessTracer}: open (needs root), decide namespaces, poll, close.
 * - {@linkcode decodeEvent} and the {@linkcode ProcessEvent} types: one perf sample.
 * - {@linkcode checkTracingPrerequisites}, {@linkcode libbpfVersion}: for `doctor`/`version`.
 *
 * The event layout's source of truth is `bpf/event.h`; `scripts/bpf_build.sh` rebuilds the
 * object and the generated modules.
 *
 * @module
 */

export { BpfError } from "./errno.ts";
export { decodeEvent, decodeSample } from "./event.ts";
export type {
  CgroupSample,
  ExecEvent,
  ExitEvent,
  KernelSample,
  ProcessEvent,
  ProcessEventBase,
} from "./event.ts";
export { MAX_WAIT_MS } from "./perf_reader.ts";
export {
  checkTracingPrerequisites,
  hostMountNamespaceId,
  libbpfVersion,
  mountNamespaceId,
} from "./prerequisites.ts";
export type { PrerequisiteOptions, TracingPrerequisites } from "./prerequisites.ts";
export { ProcessTracer } from "./tracer.ts";
export type { TracerOptions } from "./tracer.ts";
