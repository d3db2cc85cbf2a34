/**
 * The foreign-function table: libbpf 1.x and the few libc calls the tracer needs.
 *
 * This is the only module that calls `Deno.dlopen` or touches `Deno.UnsafePointer*` and
 * `Deno.UnsafeCallback`; everything else goes through {@linkcode Libbpf}'s typed methods,
 * which check every return value (libbpf's `-errno` / `NULL`+`errno` convention, see
 * `errno.ts`). Needs `--allow-ffi`; the calls themselves need root (CAP_BPF, CAP_PERFMON).
 *
 * Signatures follow libbpf 1.1's `libbpf.h` and `bpf.h` (x86-64: `size_t` and `long` are 64
 * bits). libbpf's own log is captured through `libbpf_set_print` instead of going to stderr,
 * and its last warning is attached to the error of the call that failed.
 *
 * @module
 */

import { NotSupportedError } from "../errors.ts";
import { BpfError, bpfError, ENOENT } from "./errno.ts";

/** An opaque C pointer returned by libbpf (an object, program, map, link or perf buffer). */
export type Handle = Deno.PointerObject;

const LIBBPF_SYMBOLS = {
  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  // On a worker thread: the kernel's verifier and libbpf's CO-RE relocation against the
  // vmlinux BTF take ~90 ms, during which the event loop talks to the runtimes.
  bpf_object__load: { parameters: ["pointer"], result: "i32", nonblocking: true },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__initial_value: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__set_initial_value: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  perf_buffer__new: {
    parameters: ["i32", "usize", "pointer", "pointer", "pointer", "pointer"],
    result: "pointer",
  },
  perf_buffer__epoll_fd: { parameters: ["pointer"], result: "i32" },
  perf_buffer__buffer_cnt: { parameters: ["pointer"], result: "usize" },
  perf_buffer__buffer: { parameters: ["pointer", "i32", "buffer", "buffer"], result: "i32" },
  perf_buffer__free: { parameters: ["pointer"], result: "void" },
  libbpf_get_error: { parameters: ["pointer"], result: "i64" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  libbpf_major_version: { parameters: [], result: "u32" },
  libbpf_minor_version: { parameters: [], result: "u32" },
} as const;

const LIBC_SYMBOLS = {
  // Runs on a worker thread so the event loop stays free while it blocks.
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  vsnprintf: { parameters: ["buffer", "usize", "pointer", "pointer"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** Where libbpf 1.x lives on common distributions, tried after the loader's own search. */
const LIBBPF_CANDIDATES = [
  "libbpf.so.1", // soname: found through ld.so.cache on any distro
  "libbpf.so", // a -dev symlink, or a hand-built library in LD_LIBRARY_PATH
  "/usr/lib/x86_64-linux-gnu/libbpf.so.1", // Debian, Ubuntu
  "/lib/x86_64-linux-gnu/libbpf.so.1", // Debian before merged /usr
  "/usr/lib64/libbpf.so.1", // Fedora, RHEL, SUSE
  "/lib64/libbpf.so.1", // RHEL before merged /usr
  "/usr/lib/libbpf.so.1", // Arch, Alpine
  "/usr/local/lib/libbpf.so.1", // built from source
];

/** `libbpf_print_fn_t`: level, format, va_list (an array type: passed as a pointer). */
const PRINT_CB = { parameters: ["i32", "pointer", "pointer"], result: "i32" } as const;
const LIBBPF_WARN = 0;
const LOG_LINE_BYTES = 4096;

/** open(2) flags (asm-generic/fcntl.h). */
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
/** _IOR(0xb7, 0x5, __u64) of include/uapi/linux/nsfs.h. */
const NS_GET_MNTNS_ID = 0x8008b705n;

/** clock_gettime(2) clock ids (linux/time.h). */
export const CLOCK_REALTIME = 0;
/** Counts across suspend; the clock of `bpf_ktime_get_boot_ns()`. */
export const CLOCK_BOOTTIME = 7;

const encoder = new TextEncoder();
const cString = (s: string): Uint8Array<ArrayBuffer> => encoder.encode(`${s}\0`);

/** A perf buffer; free with {@linkcode Libbpf.freePerfBuffer}. */
export interface PerfBuffer {
  readonly handle: Handle;
}

/** libbpf and libc, loaded; one instance per library path (see {@linkcode openLibbpf}). */
export class Libbpf {
  /** The path or soname that was loaded. */
  readonly path: string;
  readonly #bpf: Deno.DynamicLibrary<typeof LIBBPF_SYMBOLS>["symbols"];
  readonly #libc: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
  #log: string[] = [];
  #keepAlive: Uint8Array | null = null;
  readonly #print: Deno.UnsafeCallback<typeof PRINT_CB>;

  constructor(path: string, bpf: Deno.DynamicLibrary<typeof LIBBPF_SYMBOLS>) {
    this.path = path;
    this.#bpf = bpf.symbols;
    this.#libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
    // Never closed: libbpf keeps the pointer for the life of the process.
    const print = new Deno.UnsafeCallback(PRINT_CB, (level, format, args) => {
      if (level !== LIBBPF_WARN || !format) return 0;
      const buf = new Uint8Array(LOG_LINE_BYTES);
      const n = this.#libc.vsnprintf(buf, BigInt(buf.length), format, args);
      const text = new TextDecoder().decode(buf.subarray(0, Math.min(Math.max(n, 0), buf.length)));
      this.#log.push(text.replace(/\0.*$/s, "").trimEnd());
      if (this.#log.length > 32) this.#log.shift();
      return 0;
    });
    // Called from libbpf on another thread (a nonblocking load), Deno runs it on the event
    // loop while that thread waits, so the va_list stays valid. loadObject() references it
    // for the call's duration only: a referenced callback keeps the process alive.
    this.#print = print;
    this.#bpf.libbpf_set_print(print.pointer);
  }

  /** libbpf's version as `"major.minor"`, e.g. `"1.1"`. */
  version(): string {
    return `${this.#bpf.libbpf_major_version()}.${this.#bpf.libbpf_minor_version()}`;
  }

  #check(fn: string, ret: number): number {
    const log = this.#log;
    this.#log = [];
    if (ret < 0) throw bpfError(fn, ret, log);
    return ret;
  }
  #checkPtr(fn: string, ptr: Deno.PointerValue): Handle {
    const log = this.#log;
    this.#log = [];
    if (ptr !== null) return ptr;
    // Reads errno right away, on this thread: libbpf 1.x sets it for NULL returns.
    throw bpfError(fn, Number(this.#bpf.libbpf_get_error(null)) || -ENOENT, log);
  }

  /** bpf_object__open_mem: parses an ELF object held in memory; `name` names its maps. */
  openObject(bytes: Uint8Array<ArrayBuffer>, name: string): Handle {
    // struct bpf_object_open_opts { size_t sz; const char *object_name; } (a prefix is valid).
    // libbpf copies the name; the field keeps the buffer alive across the call.
    this.#keepAlive = cString(name);
    const namePtr = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#keepAlive));
    const opts = new Uint8Array(new BigUint64Array([16n, BigInt(namePtr)]).buffer);
    const obj = this.#bpf.bpf_object__open_mem(bytes, BigInt(bytes.length), opts);
    this.#keepAlive = null;
    return this.#checkPtr("bpf_object__open_mem", obj);
  }
  /**
   * bpf_object__load: creates the maps, relocates (CO-RE) and verifies the programs, on a
   * worker thread (the event loop stays free). Make no other libbpf call on `obj` until it
   * settles.
   * @throws {BpfError} libbpf's error, with its log.
   */
  async loadObject(obj: Handle): Promise<void> {
    this.#print.ref();
    try {
      this.#check("bpf_object__load", await this.#bpf.bpf_object__load(obj));
    } finally {
      this.#print.unref();
    }
  }
  /** bpf_object__close: unloads programs, closes maps. Links must be destroyed first. */
  closeObject(obj: Handle): void {
    this.#bpf.bpf_object__close(obj);
  }
  /** bpf_object__find_program_by_name (the C function's name, not the section). */
  findProgram(obj: Handle, name: string): Handle {
    const ptr = this.#bpf.bpf_object__find_program_by_name(obj, cString(name));
    return this.#checkPtr("bpf_object__find_program_by_name", ptr);
  }
  /** bpf_program__set_autoload: false leaves the program out of the load (no verifier run). */
  setAutoload(prog: Handle, autoload: boolean): void {
    this.#check("bpf_program__set_autoload", this.#bpf.bpf_program__set_autoload(prog, autoload));
  }
  /** bpf_program__attach: attaches as the section name says; returns the link. */
  attachProgram(prog: Handle): Handle {
    return this.#checkPtr("bpf_program__attach", this.#bpf.bpf_program__attach(prog));
  }
  /** bpf_link__destroy: detaches and frees the link. */
  destroyLink(link: Handle): void {
    this.#check("bpf_link__destroy", this.#bpf.bpf_link__destroy(link));
  }
  /** bpf_object__find_map_by_name; internal maps answer to `.rodata`, `.bss`, ... */
  findMap(obj: Handle, name: string): Handle {
    const ptr = this.#bpf.bpf_object__find_map_by_name(obj, cString(name));
    return this.#checkPtr("bpf_object__find_map_by_name", ptr);
  }
  /** bpf_map__fd: the map's file descriptor (after load). */
  mapFd(map: Handle): number {
    return this.#check("bpf_map__fd", this.#bpf.bpf_map__fd(map));
  }
  /** A copy of a global-data map's initial value (`.rodata`), before load. */
  mapInitialValue(map: Handle): Uint8Array<ArrayBuffer> {
    const size = new BigUint64Array(1);
    const ptr = this.#checkPtr(
      "bpf_map__initial_value",
      this.#bpf.bpf_map__initial_value(map, new Uint8Array(size.buffer)),
    );
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, Number(size[0]))).slice();
  }
  /** bpf_map__set_initial_value: replaces a global-data map's value; before load only. */
  setMapInitialValue(map: Handle, value: Uint8Array<ArrayBuffer>): void {
    const ret = this.#bpf.bpf_map__set_initial_value(map, value, BigInt(value.length));
    this.#check("bpf_map__set_initial_value", ret);
  }
  /** bpf_map__set_max_entries: the map's size, before the object is loaded. */
  setMaxEntries(map: Handle, entries: number): void {
    this.#check("bpf_map__set_max_entries", this.#bpf.bpf_map__set_max_entries(map, entries));
  }
  /** bpf_map_update_elem with BPF_ANY: inserts or replaces. */
  updateElem(fd: number, key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): void {
    this.#check("bpf_map_update_elem", this.#bpf.bpf_map_update_elem(fd, key, value, 0n));
  }
  /** bpf_map_delete_elem; returns false when the key was absent (ENOENT). */
  deleteElem(fd: number, key: Uint8Array<ArrayBuffer>): boolean {
    const ret = this.#bpf.bpf_map_delete_elem(fd, key);
    if (ret === -ENOENT) return (this.#log = [], false);
    this.#check("bpf_map_delete_elem", ret);
    return true;
  }

  /**
   * bpf_map_lookup_elem: copies the value of `key` into `value` (for a per-CPU map, one
   * 8-byte-aligned slot per possible CPU). Returns false when the key is absent (ENOENT).
   */
  lookupElem(fd: number, key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): boolean {
    const ret = this.#bpf.bpf_map_lookup_elem(fd, key, value);
    if (ret === -ENOENT) return (this.#log = [], false);
    this.#check("bpf_map_lookup_elem", ret);
    return true;
  }
  /**
   * bpf_map_get_next_key: the key after `key` (null: the first) into `next`. Returns false
   * after the last key (ENOENT).
   */
  nextKey(fd: number, key: Uint8Array<ArrayBuffer> | null, next: Uint8Array<ArrayBuffer>): boolean {
    const ret = this.#bpf.bpf_map_get_next_key(fd, key, next);
    if (ret === -ENOENT) return (this.#log = [], false);
    this.#check("bpf_map_get_next_key", ret);
    return true;
  }
  /** libbpf_num_possible_cpus: the slots of a per-CPU map value. */
  possibleCpus(): number {
    return this.#check("libbpf_num_possible_cpus", this.#bpf.libbpf_num_possible_cpus());
  }

  /**
   * perf_buffer__new: maps `pages` pages per CPU (a power of two) of a perf event array.
   * No sample or lost callbacks: they run only inside perf_buffer__consume/poll, which
   * crienrich never calls; the rings are read directly ({@linkcode perfBufferRings}).
   */
  newPerfBuffer(mapFd: number, pages: number): PerfBuffer {
    const ptr = this.#bpf.perf_buffer__new(mapFd, BigInt(pages), null, null, null, null);
    return { handle: this.#checkPtr("perf_buffer__new", ptr) };
  }
  /** perf_buffer__epoll_fd: readable when any CPU's ring has data. */
  perfBufferEpollFd(pb: PerfBuffer): number {
    return this.#check("perf_buffer__epoll_fd", this.#bpf.perf_buffer__epoll_fd(pb.handle));
  }
  /**
   * perf_buffer__buffer for every ring: each CPU's whole mapping (control page + data
   * area) as an ArrayBuffer over the mmap()'ed memory, for {@linkcode PerfRing}. The
   * buffers are valid until {@linkcode freePerfBuffer}: touching one afterwards crashes.
   * Rings of CPUs that are offline (ENOENT) are left out.
   */
  perfBufferRings(pb: PerfBuffer): ArrayBuffer[] {
    const count = Number(this.#bpf.perf_buffer__buffer_cnt(pb.handle));
    const rings: ArrayBuffer[] = [];
    const base = new BigUint64Array(1);
    const size = new BigUint64Array(1);
    for (let index = 0; index < count; index++) {
      const ret = this.#bpf.perf_buffer__buffer(
        pb.handle,
        index,
        new Uint8Array(base.buffer),
        new Uint8Array(size.buffer),
      );
      if (ret === -ENOENT) continue;
      this.#check("perf_buffer__buffer", ret);
      const pointer = Deno.UnsafePointer.create(base[0]!);
      if (pointer === null) continue;
      // The mapping is one page of control data (struct perf_event_mmap_page) plus the
      // data area; libbpf reports the data area's size. data_offset says the page size.
      const control = new DataView(Deno.UnsafePointerView.getArrayBuffer(pointer, 4096));
      const dataOffset = Number(control.getBigUint64(1040, true));
      rings.push(Deno.UnsafePointerView.getArrayBuffer(pointer, dataOffset + Number(size[0]!)));
    }
    return rings;
  }
  /** perf_buffer__free: unmaps the rings; the handle is unusable afterwards. */
  freePerfBuffer(pb: PerfBuffer): void {
    this.#bpf.perf_buffer__free(pb.handle);
  }

  /**
   * epoll_wait(2) on a worker thread. `events` must hold whole `struct epoll_event`s (12
   * bytes each on x86-64) and stay referenced until the promise settles. Resolves to the
   * count of ready fds, or -1 on any error (EINTR from a signal, or a closed fd).
   */
  epollWait(epfd: number, events: Uint8Array<ArrayBuffer>, timeoutMs: number): Promise<number> {
    return this.#libc.epoll_wait(epfd, events, Math.floor(events.length / 12), timeoutMs);
  }
  /** clock_gettime(2) in nanoseconds, e.g. of {@linkcode CLOCK_BOOTTIME}. */
  clockNs(clock: number): bigint {
    const ts = new BigInt64Array(2);
    if (this.#libc.clock_gettime(clock, new Uint8Array(ts.buffer)) !== 0) {
      throw new BpfError("clock_gettime", this.#errno());
    }
    return ts[0]! * 1_000_000_000n + ts[1]!;
  }
  /**
   * mount(2) without flags or data, e.g. `mount("tracefs", "/sys/kernel/tracing", "tracefs")`.
   * @throws {BpfError} always a plain one, whatever the errno: an `EPERM` here means no
   * CAP_SYS_ADMIN, not a BPF permission ({@linkcode bpfError}'s reading of it).
   */
  mount(source: string, target: string, fstype: string): void {
    const ret = this.#libc.mount(cString(source), cString(target), cString(fstype), 0n, null);
    if (ret !== 0) throw new BpfError("mount", this.#errno());
  }
  /**
   * The serial of the mount namespace a `/proc/<pid>/ns/mnt` link names, through the
   * NS_GET_MNTNS_ID ioctl (Linux 6.9+, include/uapi/linux/nsfs.h): the value BPF events
   * carry as `mntns_seq`. Undefined on older kernels (the ioctl is unknown there) and when
   * the link cannot be opened (the process is gone).
   */
  mountNamespaceSerial(nsPath: string): bigint | undefined {
    const fd = this.#libc.open(cString(nsPath), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return undefined;
    try {
      const id = new BigUint64Array(1);
      const ret = this.#libc.ioctl(fd, NS_GET_MNTNS_ID, new Uint8Array(id.buffer));
      return ret === 0 ? id[0]! : undefined;
    } finally {
      this.#libc.close(fd);
    }
  }
  #errno(): number {
    const loc = this.#libc.__errno_location();
    return loc ? new Deno.UnsafePointerView(loc).getInt32() : 0;
  }
}

const loaded = new Map<string, Libbpf>();

/**
 * Loads libbpf 1.x: `path` if given (a `--libbpf PATH` flag), else the first of
 * `libbpf.so.1`, `libbpf.so` and the usual distribution paths. Cached per `path`.
 *
 * @throws {NotSupportedError} when no candidate loads or the library lacks a 1.x symbol.
 */
export function openLibbpf(path?: string): Libbpf {
  const key = path ?? "";
  const cached = loaded.get(key);
  if (cached) return cached;
  const failures: string[] = [];
  for (const candidate of path === undefined ? LIBBPF_CANDIDATES : [path]) {
    let library;
    try {
      library = Deno.dlopen(candidate, LIBBPF_SYMBOLS);
    } catch (error) {
      // Deno's message repeats its own prefix ("Could not open library: Could not open…").
      const message = error instanceof Error ? error.message : String(error);
      failures.push(message.replace(/^(Could not open library: )+/, ""));
      continue;
    }
    const lib = new Libbpf(candidate, library);
    loaded.set(key, lib);
    return lib;
  }
  const where = path === undefined ? "" : ` at "${path}"`;
  throw new NotSupportedError(
    `Cannot load libbpf 1.x${where}: install it (apt-get install libbpf1, dnf install libbpf)` +
      ` or pass --libbpf PATH: ${failures[failures.length - 1] ?? "no candidate"}`,
  );
}
