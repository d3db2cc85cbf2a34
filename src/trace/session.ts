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
import { hostMountNamespaceId, ProcessTracer } from "../bpf/mod.ts";
import type { ContainerSource } from "../runtime/client.ts";
import { describeRecord } from "../runtime/record.ts";
import { type ContainerSelector, matchesSelector } from "../runtime/selector.ts";
import { ContainerResolver } from "../enrich/resolver.ts";
import { WorkloadLookup } from "../enrich/workloads.ts";
import { EnrichmentCache, type NamespaceEntry } from "../enrich/cache.ts";
import { REORDER_MARGIN_NS, ReorderBuffer } from "../enrich/reorder.ts";
import type { EventKind, KernelSample } from "../bpf/mod.ts";
import { type EnrichedEvent, EventPipeline, type PipelineCounts } from "../enrich/pipeline.ts";
import type { ContainerRecord } from "../runtime/record.ts";
import { mountNamespacesInUse, ownPidIn } from "../runtime/proc.ts";
import { cgroupLayout } from "../runtime/cgroup.ts";
import { join } from "node:path";
import { errorMessage } from "../errors.ts";

/**
 * After Ctrl-C or SIGTERM, how long events of new namespaces may still wait for their
 * lookup before the trace ends without them, in ms.
 */
const STOP_GRACE_MS = 500;

/** `promise`'s value, or undefined when `deadline` (ms since the epoch) passes first. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  if (deadline === Infinity) return await promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the session's tracer is opened with (see {@linkcode openSessionTracer}). */
export interface SessionTracerSetup {
  /** The kinds of events to trace (`--events`). */
  events: ReadonlySet<EventKind>;
  /** Also send processes outside containers. */
  includeHost: boolean;
  /**
   * Trace only this PID namespace (inode) and report its pids: crienrich runs in a kind-like
   * node whose runtime shares its PID namespace. Default: the host's.
   */
  pidNamespaceInode?: number;
  /** Perf buffer pages per CPU (power of two). */
  perCpuBufferPages?: number;
  libbpfPath?: string;
  hostRoot?: string;
  /** Attach only once this settles (see `TracerOptions.attachWhen`). */
  attachWhen?: Promise<unknown>;
}

/**
 * Opens the tracer a session reads: unknown namespaces sent with their cgroup names, the
 * host's mount namespace and crienrich's own pid read from `hostRoot`'s `/proc`.
 *
 * Every failure is a rejection, never a throw: a caller that opens it while it discovers the
 * runtimes (`attachWhen`) awaits the runtimes first, so their errors come first (a node
 * without a cgroup filesystem and without a runtime says the runtime is missing).
 * @throws {PermissionError|NotSupportedError} as {@linkcode ProcessTracer.open}, or no
 * cgroup filesystem is mounted.
 */
export async function openSessionTracer(setup: SessionTracerSetup): Promise<ProcessTracer> {
  // Ignored until awaited after the load: handled now, so that it failing while this
  // fails before the load is not "uncaught".
  setup.attachWhen?.catch(() => {});
  const procRoot = join(setup.hostRoot ?? "/", "proc");
  return await ProcessTracer.open({
    hostMntnsId: hostMountNamespaceId(procRoot),
    traceExec: setup.events.has("exec"),
    traceExit: setup.events.has("exit"),
    traceConnect: setup.events.has("connect"),
    traceAccept: setup.events.has("accept"),
    traceClose: setup.events.has("close"),
    traceOpen: setup.events.has("open"),
    selfPid: ownPidIn(procRoot),
    traceHost: setup.includeHost,
    sendUnknown: true,
    cgroupV1: cgroupLayout() === "v1",
    ...(setup.pidNamespaceInode ? { pidNamespaceInode: setup.pidNamespaceInode } : {}),
    ...(setup.perCpuBufferPages ? { perCpuBufferPages: setup.perCpuBufferPages } : {}),
    ...(setup.libbpfPath ? { libbpfPath: setup.libbpfPath } : {}),
    ...(setup.attachWhen ? { attachWhen: setup.attachWhen } : {}),
  });
}

/** Options of {@linkcode runTraceSession}. */
export interface TraceSessionOptions {
  /** The session's tracer ({@linkcode openSessionTracer}); the session closes it. */
  tracer: ProcessTracer;
  runtime: ContainerSource;
  /** Containers to trace; null traces none (host only). */
  selector: ContainerSelector | null;
  /** Also print processes outside containers. */
  includeHost: boolean;
  /**
   * Print events whose namespace could not be resolved, flagged (`--all`, `--host`).
   * False under a named selection, which prints only what is proven to be its own.
   */
  printUnresolved: boolean;
  /** The kinds of events traced (`--events`). */
  events: ReadonlySet<EventKind>;
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
  /** Print runc's setup tasks (`runc:[1:CHILD]` and the like); default: hidden. */
  showRuntimeHelpers?: boolean;
  /** Called the first time a namespace of the selection is decided (a pod appeared). */
  onSelectionSeen?: (entry: NamespaceEntry) => void;
  /**
   * Called once after start-up with the running containers the selection matches now, or
   * `undefined` when the runtimes did not list them before the trace's deadline (a short
   * `--duration`): what runs is then unknown, not nothing.
   */
  onStarted?: (selected: ContainerRecord[] | undefined) => void;
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
  /** True when some container or pod sandbox of the selection ran during the trace. */
  selectionSeen: boolean;
  /**
   * Cgroup samples the kernel could not write (ring full). `lost` counts traced events
   * only, exactly: every event made in a selected namespace was printed, filtered,
   * hidden or lost.
   */
  lostCgroupSamples: number;
}

/** How long the end-of-trace listing of {@linkcode ranSince} may take, in ms. */
const FINAL_LISTING_MS = 5000;

/**
 * Whether a container of `selector` runs now or started at `sinceWallNs` (ns since the
 * epoch) or later, by a listing made now. A selection is seen when the kernel's first event
 * of it is decided; with only some event kinds traced (`--events connect`) a container can
 * start and end without one, and it still ran during the trace. False when the runtime does
 * not answer in time.
 */
async function ranSince(
  runtime: ContainerSource,
  selector: ContainerSelector,
  sinceWallNs: bigint,
): Promise<boolean> {
  const records = await beforeDeadline(
    runtime.list().catch(() => []),
    Date.now() + FINAL_LISTING_MS,
  ) ?? [];
  const sinceMs = Number(sinceWallNs / 1_000_000n);
  return records.some((r) =>
    matchesSelector(r, { ...selector, includeStopped: true }) &&
    (r.state === "running" || Date.parse(r.started) >= sinceMs)
  );
}

/**
 * Runs a trace until the stop signal, the duration, or `emit` returning false. Closes the
 * tracer (detaching every program) before returning or throwing.
 *
 * @throws {RuntimeUnavailableError} from listing the runtime's containers.
 */
export async function runTraceSession(options: TraceSessionOptions): Promise<TraceSummary> {
  // The duration counts from here: the first listing is part of it.
  const deadline = options.durationMs === undefined ? Infinity : Date.now() + options.durationMs;
  const procRoot = join(options.hostRoot ?? "/", "proc");
  const hostMntnsId = hostMountNamespaceId(procRoot);
  const tracer = options.tracer;
  try {
    let selectionSeen = false;
    let lastResolveError: string | undefined;
    const lookup = new WorkloadLookup(options.runtime, { procRoot });
    const cache = new EnrichmentCache(new ContainerResolver(lookup, procRoot), {
      selector: options.selector,
      includeHost: options.includeHost,
      includeUnconfirmed: options.printUnresolved,
      onForget: (seq) => tracer.forgetMountNamespace(seq),
      onVerdict: (seq, allow, entry) => {
        if (allow) tracer.allowMountNamespace(seq);
        else tracer.denyMountNamespace(seq);
        if (allow && (entry.record || entry.pod) && !selectionSeen) {
          selectionSeen = true;
          options.onSelectionSeen?.(entry);
        }
        const what = entry.shared
          ? `shared by ${
            [...entry.shared.values()].map(({ record: r }) => describeRecord(r)).join(", ")
          }`
          : entry.record
          ? describeRecord(entry.record)
          : entry.pod
          ? `${entry.pod.namespace}/${entry.pod.name} (pod sandbox)`
          : entry.unconfirmed
          ? "unconfirmed container"
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
      wallClockNs: (bootNs) => tracer.bootTimeToWallClockNs(bootNs),
      hostMntnsId,
      showRuntimeHelpers: options.showRuntimeHelpers ?? false,
      execTraced: options.events.has("exec"),
      emit: (event) => options.emit(event, tracer.bootTimeToWallClockNs(event.event.tsBootNs)),
      // Said once per distinct failure, not once per event (a runtime down for a minute).
      onError: (error) => {
        const message = errorMessage(error);
        if (message === lastResolveError) return;
        lastResolveError = message;
        options.diagnostics(`cannot resolve containers: ${message}`);
      },
      ...(options.debug ? { debug: options.debug } : {}),
    });
    // Samples of one drain are put in time order before the pipeline sees them (reorder.ts).
    const reorder = new ReorderBuffer<KernelSample>();
    let drainStartNs: bigint | undefined;
    const onEvent = (sample: KernelSample) => {
      drainStartNs ??= tracer.bootClockNs();
      reorder.add(sample);
    };
    const release = (final: boolean) => {
      const until = final ? undefined : (drainStartNs ?? tracer.bootClockNs()) - REORDER_MARGIN_NS;
      drainStartNs = undefined;
      if (reorder.size === 0) return;
      for (const sample of until === undefined ? reorder.releaseAll() : reorder.release(until)) {
        pipeline.push(sample);
      }
    };
    const lostByCpu = new Map<number, bigint>();
    const onLost = (cpu: number, count: bigint) => {
      lostByCpu.set(cpu, (lostByCpu.get(cpu) ?? 0n) + count);
      pipeline.addLost(Number(count));
      options.onLost(cpu, Number(count), BigInt(Date.now()) * 1_000_000n);
    };

    // Attached: now see what the selection matches among running containers (a runtime
    // slower than the deadline does not hold the trace past it).
    const listedAtNs = BigInt(Date.now()) * 1_000_000n;
    const listed = await beforeDeadline(options.runtime.list(), deadline);
    const running = listed ?? [];
    lookup.seedRunning(running, listedAtNs);
    const selector = options.selector;
    const matching = selector === null ? [] : running.filter((r) => matchesSelector(r, selector));
    if (matching.length > 0) selectionSeen = true;
    options.onStarted?.(listed ? matching : undefined);

    let stoppedBy: TraceSummary["stoppedBy"] | undefined;
    options.stopSignal.then(() => (stoppedBy ??= "signal"));
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
        release(false);
      } finally {
        options.batch?.end();
      }
      if (pipeline.stopped) stoppedBy = "emit";
      else if (Date.now() >= deadline) stoppedBy = "duration";
    }
    // Events already read are still printed; at a deadline without waiting for lookups.
    if (stoppedBy !== "emit") {
      await tracer.poll(0, onEvent, onLost);
      release(true);
      const grace = setTimeout(
        () => pipeline.hurry(),
        stoppedBy === "duration" ? 0 : STOP_GRACE_MS,
      );
      await pipeline.flush();
      clearTimeout(grace);
    }
    if (options.selector !== null && !selectionSeen) {
      selectionSeen = await ranSince(options.runtime, options.selector, listedAtNs);
    }
    // The kernel reports a CPU's dropped samples only with that CPU's next sample: what the
    // BPF programs counted themselves and was not reported yet is reported now, and the
    // summary counts lost events exactly, from the programs' own count.
    const failures = tracer.outputFailures();
    for (const [cpu, events] of failures.events.entries()) {
      const failed = events + (failures.cgroupSamples[cpu] ?? 0n);
      const missing = failed - (lostByCpu.get(cpu) ?? 0n);
      if (missing > 0n) onLost(cpu, missing);
    }
    const sum = (values: bigint[]) => Number(values.reduce((a, b) => a + b, 0n));
    return {
      ...pipeline.counts,
      lost: sum(failures.events),
      lostCgroupSamples: sum(failures.cgroupSamples),
      resolutions: cache.resolutions,
      stoppedBy,
      selectionSeen,
    };
  } finally {
    tracer.close();
  }
}
