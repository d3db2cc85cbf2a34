/**
 * crienrich's kernel side: exec, exit, TCP and open events from tracepoints, filtered by
 * mount namespace in the kernel, read through libbpf 1.x over FFI.
 *
 * - {@linkcode ProcessTracer}: open (needs root), decide namespaces, poll, close.
 * - {@linkcode decodeEvent} and the {@linkcode TraceEvent} types: one perf sample.
 * - {@linkcode checkTracingPrerequisites}, {@linkcode libbpfVersion}: for `doctor`/`version`.
 *
 * The event layout's source of truth is `bpf/event.h`; `scripts/bpf_build.sh` rebuilds the
 * object and the generated modules.
 *
 * @module
 */

export { BpfError } from "./errno.ts";
export { decodeEvent, decodeSample, formatIpv6 } from "./event.ts";
export type {
  CgroupSample,
  EventKind,
  ExecEvent,
  ExitEvent,
  KernelSample,
  NetTuple,
  OpenEvent,
  ProcessEvent,
  ProcessEventBase,
  TcpEvent,
  TraceEvent,
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
