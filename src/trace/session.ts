/**
 * One trace session: the BPF tracer, the runtime's containers and the enrichment pipeline
 * wired together, run until a stop condition, then torn down in reverse order.
 *
 * Order of start-up, chosen so a container starting meanwhile is not missed: the tracer is
 * attached first, sending every mount namespace's first event flagged "unknown" with its
 * cgroup names; then the runtime is listed (to report what the selection matches now).
 * Each namespace is resolved once, on its first event, and its verdict written to the
 * kernel under its never-reused serial.
 *
 * @module
 */
import { ProcessTracer } from "../bpf/mod.ts";
import type { ContainerInventory } from "../runtime/inventory.ts";
import { type ContainerSelector, matchesSelector } from "../runtime/selector.ts";
import { ContainerResolver } from "../enrich/resolver.ts";
import { WorkloadLookup } from "../enrich/workloads.ts";
import { EnrichmentCache } from "../enrich/cache.ts";
import { type EnrichedEvent, EventPipeline, type PipelineCounts } from "../enrich/pipeline.ts";
import type { ContainerRecord } from "../runtime/record.ts";
import { mountNamespacesInUse } from "../runtime/proc.ts";
import { cgroupLayout } from "../runtime/cgroup.ts";
import { join } from "node:path";

/** Options of {@linkcode runTraceSession}. */
export interface TraceSessionOptions {
  inventory: ContainerInventory;
  /** Containers to trace; null traces none (host only). */
  selector: ContainerSelector | null;
  /** Also print processes outside containers. */
  includeHost: boolean;
  /**
   * Print events whose namespace could not be resolved, flagged (`--all`, `--host`).
   * False under a named selection, which prints only what is proven to be its own.
   */
  printUnresolved: boolean;
  /**
   * Trace only this PID namespace (inode) and report its pids: crienrich runs in a kind-like
   * node whose runtime shares its PID namespace. Default: the host's.
   */
  pidNamespaceInode?: number;
  traceExec: boolean;
  traceExit: boolean;
  /** Perf buffer pages per CPU (power of two). */
  perCpuBufferPages?: number;
  libbpfPath?: string;
  hostRoot?: string;
  /** How long an event of a new namespace waits for its container, in ms. */
  resolveWaitMs: number;
  /** Stop after this long, in ms. */
  durationMs?: number;
  /** How often verdicts of namespaces without processes are dropped, in ms (default 60 s). */
  sweepIntervalMs?: number;
  /** Receives each printed event with its wall-clock time (ns); false stops the session. */
  emit: (event: EnrichedEvent, timeNs: bigint) => boolean;
  /** Receives lost-sample reports: cpu, count, wall-clock time (ns). */
  onLost: (cpu: number, count: number, timeNs: bigint) => void;
  /** Called before each perf buffer drain and after it (batch the output in between). */
  batch?: { begin: () => void; end: () => void };
  /** Called once after start-up with the running containers the selection matches now. */
  onStarted?: (selected: ContainerRecord[]) => void;
  /** One-line notices (resolution failures). */
  diagnostics: (line: string) => void;
  /** When set, receives one line per kernel verdict and per unproven event (`--debug`). */
  debug?: (line: string) => void;
  /** Resolves when the operator asks to stop (SIGINT, SIGTERM). */
  stopSignal: Promise<void>;
}

/** What a finished session reports. */
export interface TraceSummary extends PipelineCounts {
  /** Container lookups made for namespaces first seen during the trace. */
  resolutions: number;
  /** Why it stopped. */
  stoppedBy: "signal" | "duration" | "emit";
}

/**
 * Runs a trace until the stop signal, the duration, or `emit` returning false. Closes the
 * tracer (detaching every program) before returning or throwing.
 *
 * @throws {PermissionError|NotSupportedError} from opening the tracer.
 * @throws {RuntimeUnavailableError} from listing the runtime's containers.
 */
export async function runTraceSession(options: TraceSessionOptions): Promise<TraceSummary> {
  const tracer = ProcessTracer.open({
    traceExec: options.traceExec,
    traceExit: options.traceExit,
    traceHost: options.includeHost,
    sendUnknown: true,
    cgroupV1: cgroupLayout() === "v1",
    ...(options.pidNamespaceInode ? { pidNamespaceInode: options.pidNamespaceInode } : {}),
    ...(options.perCpuBufferPages ? { perCpuBufferPages: options.perCpuBufferPages } : {}),
    ...(options.libbpfPath ? { libbpfPath: options.libbpfPath } : {}),
  });
  try {
    const procRoot = join(options.hostRoot ?? "/", "proc");
    const lookup = new WorkloadLookup(options.inventory, { procRoot });
    const cache = new EnrichmentCache(new ContainerResolver(lookup, procRoot), {
      selector: options.selector,
      includeHost: options.includeHost,
      onForget: (seq) => tracer.forgetMountNamespace(seq),
      onVerdict: (seq, allow, entry) => {
        if (allow) tracer.allowMountNamespace(seq);
        else tracer.denyMountNamespace(seq);
        const what = entry.record
          ? `${entry.pod?.namespace}/${entry.pod?.name}/${entry.record.name}`
          : entry.pod
          ? `${entry.pod.namespace}/${entry.pod.name} (pod sandbox)`
          : "no container";
        options.debug?.(
          `mntns ${entry.mntnsId} (serial ${seq}) ${
            allow ? "allowed" : "denied"
          }: ${what}, by ${entry.proof}`,
        );
      },
    });
    const pipeline = new EventPipeline({
      cache,
      resolveWaitMs: options.resolveWaitMs,
      printUnresolved: options.printUnresolved,
      emit: (event) => options.emit(event, tracer.bootTimeToWallClockNs(event.event.tsBootNs)),
      onError: (error) => options.diagnostics(`cannot resolve container: ${String(error)}`),
      ...(options.debug ? { debug: options.debug } : {}),
    });
    const onEvent = (event: Parameters<EventPipeline["push"]>[0]) => pipeline.push(event);
    const onLost = (cpu: number, count: bigint) => {
      pipeline.addLost(Number(count));
      options.onLost(cpu, Number(count), BigInt(Date.now()) * 1_000_000n);
    };

    // Attached: now see what the selection matches among running containers.
    const running = await options.inventory.list();
    const selector = options.selector;
    options.onStarted?.(
      selector === null ? [] : running.filter((r) => matchesSelector(r, selector)),
    );

    let stoppedBy: TraceSummary["stoppedBy"] | undefined;
    options.stopSignal.then(() => (stoppedBy ??= "signal"));
    const deadline = options.durationMs === undefined ? Infinity : Date.now() + options.durationMs;
    const sweepEvery = options.sweepIntervalMs ?? 60_000;
    let nextSweep = Date.now() + sweepEvery;
    while (stoppedBy === undefined) {
      if (Date.now() >= nextSweep) {
        // Between drains, so no event of a swept namespace is in flight in the pipeline.
        const dropped = cache.sweep(await mountNamespacesInUse(procRoot));
        if (dropped > 0) options.debug?.(`dropped ${dropped} verdicts of ended namespaces`);
        nextSweep = Date.now() + sweepEvery;
      }
      options.batch?.begin();
      try {
        await tracer.poll(100, onEvent, onLost);
      } finally {
        options.batch?.end();
      }
      if (pipeline.stopped) stoppedBy = "emit";
      else if (Date.now() >= deadline) stoppedBy = "duration";
    }
    // Events already read are still printed (bounded by the resolution wait).
    if (stoppedBy !== "emit") {
      await tracer.poll(0, onEvent, onLost);
      await pipeline.flush();
    }
    return { ...pipeline.counts, resolutions: cache.resolutions, stoppedBy };
  } finally {
    tracer.close();
  }
}
