/**
 * The process tracer: crienrich's BPF object from open to close.
 *
 * open (embedded object) → configure (.rodata) → load → attach each tracepoint → perf
 * buffer → poll … → close, each phase with its own error message (libbpf-bootstrap's
 * `bootstrap_legacy.c` order). The object is embedded (`object.gen.ts`), so `deno compile`
 * carries it and nothing is read from the source tree at run time.
 * Kernel filter: see `bpf/crienrich.bpf.c`; event fields: `event.ts`.
 *
 * @module
 */

import { errorMessage, NotSupportedError, PermissionError } from "../errors.ts";
import { BpfError, ENOENT } from "./errno.ts";
import { decodeSample, type KernelSample } from "./event.ts";
import {
  CONFIG_FIELDS,
  CONFIG_RODATA_OFFSET,
  CONFIG_SIZE,
  CRIENRICH_FAILED_CGROUP_SAMPLES,
  CRIENRICH_FAILED_EVENTS,
  CRIENRICH_FAILED_NET_EVENTS,
  CRIENRICH_FAILED_OPEN_EVENTS,
  CRIENRICH_VERDICT_ALLOW,
  CRIENRICH_VERDICT_DENY,
} from "./event_layout.gen.ts";
import { CLOCK_BOOTTIME, CLOCK_REALTIME, type Handle, type Libbpf, openLibbpf } from "./libbpf.ts";
import { OBJECT_BYTES } from "./object.gen.ts";
import { PerfReader } from "./perf_reader.ts";
import { KIND_MAPS, programNeeded, PROGRAMS, tracepointsFor } from "./programs.ts";
import type { EventKind } from "./event.ts";
import { checkTracingPrerequisites, hostMountNamespaceId } from "./prerequisites.ts";

/** Options of {@linkcode ProcessTracer.open}. */
export interface TracerOptions {
  /** libbpf to load instead of the default search (a `--libbpf PATH` flag). */
  libbpfPath?: string;
  /** Pages (4 KiB) of perf ring per CPU, a power of two; default 64 = 256 KiB, ~700 short execs. */
  perCpuBufferPages?: number;
  /** Send exec events. */
  traceExec: boolean;
  /** Send exit events of whole processes. */
  traceExit: boolean;
  /** Send TCP connect outcomes (tracepoint `sock:inet_sock_set_state`). Default false. */
  traceConnect?: boolean;
  /** Send TCP accepts (`syscalls:sys_exit_accept`/`accept4`). Default false. */
  traceAccept?: boolean;
  /** Send ends of TCP connections the traced tasks connected or accepted. Default false. */
  traceClose?: boolean;
  /** Send openat(2)/openat2(2) calls (`syscalls:sys_enter/exit_openat[2]`). Default false. */
  traceOpen?: boolean;
  /**
   * crienrich's own process id as events report ids (the traced PID namespace's, or the
   * host's): its opens and sockets are never sent. Default: none.
   */
  selfPid?: number;
  /** Send events from the host's mount namespace (`hostMntnsId`). */
  traceHost: boolean;
  /**
   * Send events from mount namespaces without a verdict, flagged `mntnsUnknown`, so a
   * just-started container is seen from its first exec; decide them with
   * {@linkcode ProcessTracer.allowMountNamespace} / `denyMountNamespace`.
   */
  sendUnknown: boolean;
  /** The host's mount namespace id; default: {@linkcode hostMountNamespaceId}. */
  hostMntnsId?: bigint;
  /**
   * Trace only the tasks of this PID namespace (its inode, `/proc/PID/ns/pid`) and its
   * descendants, with ids as it sees them: crienrich runs inside a kind-like node whose
   * runtime shares its PID namespace. Default: every task, host ids.
   */
  pidNamespaceInode?: number;
  /**
   * Name cgroups from the v1 memory hierarchy in cgroup samples: for nodes without a
   * cgroup v2 tree. Default false (the v2 tree).
   */
  cgroupV1?: boolean;
  /**
   * Attach the programs only once this settles: the object is loaded meanwhile, and no
   * event is sent before the caller is ready to read (a caller loads while it discovers
   * the runtimes). When it rejects, everything is released and `open` rejects with its
   * reason. Default: attach right after the load.
   */
  attachWhen?: Promise<unknown>;
}

const OBJECT_NAME = "crienrich";
const DEFAULT_PAGES = 64;

/** The kinds `options` ask for. */
function requestedKinds(options: TracerOptions): Set<EventKind> {
  const kinds = new Set<EventKind>();
  if (options.traceExec) kinds.add("exec");
  if (options.traceExit) kinds.add("exit");
  if (options.traceConnect) kinds.add("connect");
  if (options.traceAccept) kinds.add("accept");
  if (options.traceClose) kinds.add("close");
  if (options.traceOpen) kinds.add("open");
  return kinds;
}

/** Re-throws `error` with `action` in front, keeping its exit-code class. */
function wrap(action: string, error: unknown): Error {
  const message = `Cannot ${action}: ${errorMessage(error)}`;
  if (error instanceof PermissionError) return new PermissionError(message, { cause: error });
  if (error instanceof NotSupportedError) return new NotSupportedError(message, { cause: error });
  return new Error(message, { cause: error });
}

function u64Key(id: bigint): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new BigUint64Array([BigInt.asUintN(64, id)]).buffer);
}

/**
 * crienrich's BPF programs, loaded and attached, with their perf buffer. Needs root.
 *
 * @example
 * ```ts
 * using tracer = await ProcessTracer.open({
 *   traceExec: true, traceExit: true, traceHost: false, sendUnknown: true,
 * });
 * while (!stopping) {
 *   await tracer.poll(100, (e) => handle(e), (cpu, n) => lost += n);
 * }
 * ```
 */
export class ProcessTracer implements Disposable {
  readonly #lib: Libbpf;
  readonly #object: Handle;
  readonly #links: Handle[];
  readonly #verdictFd: number;
  readonly #failuresFd: number;
  readonly #reader: PerfReader;
  #closed = false;
  #bootToRealtimeNs = 0n;
  #offsetReadAt = -Infinity;

  private constructor(
    lib: Libbpf,
    object: Handle,
    links: Handle[],
    verdictFd: number,
    failuresFd: number,
    reader: PerfReader,
  ) {
    this.#lib = lib;
    this.#object = object;
    this.#links = links;
    this.#verdictFd = verdictFd;
    this.#failuresFd = failuresFd;
    this.#reader = reader;
  }

  /**
   * Checks the node ({@linkcode checkTracingPrerequisites}, mounting tracefs if needed),
   * then opens, configures, loads and attaches the embedded object and maps the perf
   * buffer. Everything created is released again when a phase fails. The load (CO-RE
   * relocation and the kernel's verifier, the longest phase) runs on a worker thread, so
   * the event loop can meanwhile talk to the runtimes.
   *
   * @throws {PermissionError} not root, or the kernel refused (EPERM).
   * @throws {NotSupportedError} no BTF, no libbpf, no tracefs or tracepoint.
   * @throws {RangeError} `perCpuBufferPages` is not a power of two.
   * @throws {Error} any other failure, naming the phase, with a {@linkcode BpfError} cause.
   */
  static async open(options: TracerOptions): Promise<ProcessTracer> {
    const pages = options.perCpuBufferPages ?? DEFAULT_PAGES;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new RangeError(`Cannot open tracer: buffer pages must be a power of two, got ${pages}`);
    }
    // Awaited after the load; handled now, so that it failing first is not "uncaught".
    options.attachWhen?.catch(() => {});
    const kinds = requestedKinds(options);
    checkTracingPrerequisites({
      ...(options.libbpfPath ? { libbpfPath: options.libbpfPath } : {}),
      tracepoints: tracepointsFor(kinds),
    });
    const lib = openLibbpf(options.libbpfPath);
    const hostMntnsId = options.hostMntnsId ?? hostMountNamespaceId();

    let object: Handle;
    try {
      object = lib.openObject(OBJECT_BYTES, OBJECT_NAME);
    } catch (error) {
      throw wrap("open BPF object", error);
    }
    const links: Handle[] = [];
    const undo = () => {
      for (const link of links.reverse()) lib.destroyLink(link);
      lib.closeObject(object);
    };
    try {
      try {
        const rodata = lib.findMap(object, ".rodata");
        const value = lib.mapInitialValue(rodata);
        writeConfig(value, { ...options, hostMntnsId });
        lib.setMapInitialValue(rodata, value);
        // Programs of kinds not asked for are neither verified nor attached: a faster
        // start, and a kernel without their tracepoints still runs the others.
        for (const program of PROGRAMS) {
          if (!programNeeded(program, kinds)) {
            lib.setAutoload(lib.findProgram(object, program.name), false);
          }
        }
        for (const map of KIND_MAPS) {
          if (!map.kinds.some((kind) => kinds.has(kind))) {
            lib.setMaxEntries(lib.findMap(object, map.name), 1);
          }
        }
      } catch (error) {
        throw wrap("configure BPF object", error);
      }
      try {
        await lib.loadObject(object);
      } catch (error) {
        throw wrap("load BPF object", error);
      }
      await options.attachWhen;
      for (const program of PROGRAMS) {
        if (!programNeeded(program, kinds)) continue;
        try {
          links.push(lib.attachProgram(lib.findProgram(object, program.name)));
        } catch (error) {
          const action = `attach tracepoint ${program.tracepoint}`;
          if (error instanceof BpfError && error.errno === ENOENT) {
            throw new NotSupportedError(`Cannot ${action}: ${error.message}`, { cause: error });
          }
          throw wrap(action, error);
        }
      }
      let verdictFd: number, failuresFd: number, reader: PerfReader;
      try {
        verdictFd = lib.mapFd(lib.findMap(object, "mntns_verdict"));
        failuresFd = lib.mapFd(lib.findMap(object, "output_failures"));
        reader = new PerfReader(lib, lib.mapFd(lib.findMap(object, "events")), pages);
      } catch (error) {
        throw wrap("open perf buffer", error);
      }
      return new ProcessTracer(lib, object, links, verdictFd, failuresFd, reader);
    } catch (error) {
      undo();
      throw error;
    }
  }

  /** Sends events from the mount namespace of serial `seq` (an event's `mntnsSeq`). */
  allowMountNamespace(seq: bigint): void {
    this.#setVerdict(seq, CRIENRICH_VERDICT_ALLOW);
  }
  /** Drops events from the mount namespace of serial `seq` in the kernel. */
  denyMountNamespace(seq: bigint): void {
    this.#setVerdict(seq, CRIENRICH_VERDICT_DENY);
  }
  /**
   * Removes the verdict of the mount namespace of serial `id` (it ended); later events from
   * it would be "unknown" again. Returns false when it had none.
   */
  forgetMountNamespace(id: bigint): boolean {
    this.#assertOpen("forget mount namespace");
    try {
      return this.#lib.deleteElem(this.#verdictFd, u64Key(id));
    } catch (error) {
      throw wrap(`forget mount namespace ${id}`, error);
    }
  }
  #setVerdict(id: bigint, verdict: number): void {
    this.#assertOpen("set mount namespace verdict");
    try {
      this.#lib.updateElem(this.#verdictFd, u64Key(id), new Uint8Array([verdict]));
    } catch (error) {
      // E2BIG: the map's 16384 entries are used; forget namespaces of gone containers.
      throw wrap(`set verdict of mount namespace ${id}`, error);
    }
  }
  /**
   * Samples the BPF programs could not write because a CPU's perf ring was full, per CPU
   * (index = CPU number, as in lost reports), since the tracer opened: exact at any time,
   * whereas the kernel reports a CPU's dropped samples to the reader only with that CPU's
   * next sample. `events` counts every traced event (exec, exit, TCP, open), `cgroupSamples`
   * cgroup samples.
   */
  outputFailures(): { events: bigint[]; cgroupSamples: bigint[] } {
    this.#assertOpen("read output failures");
    const read = (kind: number) => {
      const values = new BigUint64Array(this.#lib.possibleCpus());
      try {
        this.#lib.lookupElem(
          this.#failuresFd,
          new Uint8Array(new Uint32Array([kind]).buffer),
          new Uint8Array(values.buffer),
        );
      } catch (error) {
        throw wrap("read output failures", error);
      }
      return [...values];
    };
    const events = read(CRIENRICH_FAILED_EVENTS);
    const net = read(CRIENRICH_FAILED_NET_EVENTS);
    const open = read(CRIENRICH_FAILED_OPEN_EVENTS);
    return {
      events: events.map((n, cpu) => n + net[cpu]! + open[cpu]!),
      cgroupSamples: read(CRIENRICH_FAILED_CGROUP_SAMPLES),
    };
  }
  #assertOpen(action: string): void {
    if (this.#closed) throw new Error(`Cannot ${action}: the tracer is closed`);
  }

  /**
   * Waits up to `timeoutMs` milliseconds for events without blocking the event loop (in
   * waits of at most 100 ms), then decodes and delivers every pending sample. Resolves to
   * the number of samples delivered, 0 on timeout or after {@linkcode close}. Events come
   * in order per CPU only (one ring each): sort by `tsBootNs` when order matters. A cgroup
   * sample comes right before the event it describes.
   *
   * @param onEvent called synchronously per sample, with the raw bytes for debugging
   * @param onLost called when a CPU's ring overflowed: `count` samples are gone
   * @throws {Error} draining failed, or the first error `onEvent`/`onLost` threw, or a
   * sample did not decode (a {@linkcode RangeError} cause).
   */
  poll(
    timeoutMs: number,
    onEvent: (event: KernelSample, sample: Uint8Array) => void,
    onLost: (cpu: number, count: bigint) => void,
  ): Promise<number> {
    return this.#reader.poll(timeoutMs, (cpu, sample) => {
      let event: KernelSample;
      try {
        event = decodeSample(sample);
      } catch (error) {
        throw new Error(`Cannot decode sample from CPU ${cpu}: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      onEvent(event, sample);
    }, onLost);
  }

  /** CLOCK_BOOTTIME now, in ns: the clock of every event's `tsBootNs`. */
  bootClockNs(): bigint {
    return this.#lib.clockNs(CLOCK_BOOTTIME);
  }

  /**
   * Converts an event's `tsBootNs` (CLOCK_BOOTTIME) to nanoseconds since the Unix epoch
   * (CLOCK_REALTIME), using both clocks read now: exact up to clock steps (NTP) since.
   */
  bootTimeToWallClockNs(tsBootNs: bigint): bigint {
    // The offset between the two clocks changes only when the wall clock is set or slewed:
    // read it at most once a second, not twice per event through FFI.
    const now = Date.now();
    if (now - this.#offsetReadAt >= 1000) {
      this.#bootToRealtimeNs = this.#lib.clockNs(CLOCK_REALTIME) -
        this.#lib.clockNs(CLOCK_BOOTTIME);
      this.#offsetReadAt = now;
    }
    return this.#bootToRealtimeNs + tsBootNs;
  }

  /**
   * Detaches the programs, frees the perf buffer and unloads the object, in reverse order
   * of creation. Idempotent; safe while a {@linkcode poll} is pending (it resolves to 0
   * within 100 ms). Afterwards `bpftool prog show` lists no crienrich program.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    for (const link of this.#links.reverse()) {
      try {
        this.#lib.destroyLink(link);
      } catch (error) {
        errors.push(error);
      }
    }
    this.#reader.close();
    this.#lib.closeObject(this.#object);
    if (errors.length) throw wrap("detach BPF programs", errors[0]);
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Writes `struct crienrich_config` into a copy of the object's `.rodata`. */
function writeConfig(rodata: Uint8Array, config: TracerOptions & { hostMntnsId: bigint }): void {
  const pidns = config.pidNamespaceInode ?? 0;
  if (!Number.isInteger(pidns) || pidns < 0 || pidns > 0xffff_ffff) {
    throw new RangeError(`PID namespace inode ${pidns} is not a 32-bit inode number`);
  }
  if (rodata.length < CONFIG_RODATA_OFFSET + CONFIG_SIZE) {
    throw new RangeError(`.rodata is ${rodata.length} bytes, too short for the config`);
  }
  const view = new DataView(rodata.buffer, rodata.byteOffset + CONFIG_RODATA_OFFSET, CONFIG_SIZE);
  view.setBigUint64(CONFIG_FIELDS.host_mntns_id.offset, config.hostMntnsId, true);
  view.setUint8(CONFIG_FIELDS.trace_host.offset, config.traceHost ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.send_unknown.offset, config.sendUnknown ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_exec.offset, config.traceExec ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_exit.offset, config.traceExit ? 1 : 0);
  view.setUint32(CONFIG_FIELDS.pidns_inum.offset, pidns, true);
  view.setUint8(CONFIG_FIELDS.cgroup_v1.offset, config.cgroupV1 ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_connect.offset, config.traceConnect ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_accept.offset, config.traceAccept ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_close.offset, config.traceClose ? 1 : 0);
  view.setUint8(CONFIG_FIELDS.trace_open.offset, config.traceOpen ? 1 : 0);
  const self = config.selfPid ?? 0;
  if (!Number.isInteger(self) || self < 0 || self > 0xffff_ffff) {
    throw new RangeError(`Own pid ${self} is not a 32-bit process id`);
  }
  view.setUint32(CONFIG_FIELDS.self_tgid.offset, self, true);
}
