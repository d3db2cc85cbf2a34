/**
 * What the exec-storm benchmark reads about a tracer process from the kernel: CPU time and
 * peak RSS from procfs (proc(5)), and the run time of its BPF programs (`bpftool prog show`
 * with `kernel.bpf_stats_enabled=1`, see bpf(2) BPF_ENABLE_STATS and the kernel's
 * Documentation/admin-guide/sysctl/kernel.rst).
 *
 * @module
 */

const decoder = new TextDecoder();

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux x86-64). */
export async function clockTicksPerSecond(): Promise<number> {
  const output = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
  const ticks = Number(decoder.decode(output.stdout).trim());
  if (!output.success || !Number.isInteger(ticks) || ticks <= 0) {
    throw new Error(`Cannot read CLK_TCK: getconf printed "${decoder.decode(output.stdout)}"`);
  }
  return ticks;
}

/** CPU time of process `pid`, all its threads included, in milliseconds (utime, stime). */
export interface CpuSample {
  userMs: number;
  systemMs: number;
  totalMs: number;
}

/**
 * Reads fields 14 (utime) and 15 (stime) of /proc/PID/stat: the whole thread group's CPU
 * time, exited threads included (proc(5)). The comm field may hold spaces and parentheses,
 * so fields are counted after its last ")".
 * @throws {Deno.errors.NotFound} when the process is gone.
 */
export function readCpu(pid: number, ticksPerSecond: number): CpuSample {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): field N is fields[N - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  const toMs = (ticks: number) => (ticks * 1000) / ticksPerSecond;
  return { userMs: toMs(utime), systemMs: toMs(stime), totalMs: toMs(utime + stime) };
}

/**
 * On-CPU time of every live thread of `pid`, in ns: the sum of the first field of
 * /proc/PID/task/TID/schedstat (Documentation/scheduler/sched-stats.rst). Finer than the
 * clock ticks of /proc/PID/stat (10 ms at CLK_TCK 100), but threads that exited are missing:
 * a cross-check for tracers whose threads live as long as they do.
 */
export function readSchedstatNs(pid: number): number {
  let total = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(
        Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0],
      );
    } catch {
      // The thread exited meanwhile.
    }
  }
  return total;
}

/** Peak resident set size (VmHWM of /proc/PID/status), in KiB. */
export function readPeakRssKib(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`No VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** One BPF program's counters from `bpftool -j prog show`. */
export interface BpfProgramStats {
  id: number;
  name: string;
  type: string;
  /** Total time spent running it since stats were enabled, in ns (absent when disabled). */
  runTimeNs: number;
  /** Times it ran since stats were enabled. */
  runCount: number;
}

/** `bpftool -j prog show` restricted to `ids`. @throws {Error} when bpftool fails. */
export async function bpfProgramStats(ids: number[]): Promise<BpfProgramStats[]> {
  if (ids.length === 0) return [];
  const output = await new Deno.Command("bpftool", { args: ["-j", "prog", "show"] }).output();
  if (!output.success) {
    throw new Error(`bpftool prog show failed: ${decoder.decode(output.stderr).trim()}`);
  }
  const all = JSON.parse(decoder.decode(output.stdout)) as {
    id: number;
    name?: string;
    type: string;
    run_time_ns?: number;
    run_cnt?: number;
  }[];
  const wanted = new Set(ids);
  return all.filter((p) => wanted.has(p.id)).map((p) => ({
    id: p.id,
    name: p.name ?? "",
    type: p.type,
    runTimeNs: p.run_time_ns ?? 0,
    runCount: p.run_cnt ?? 0,
  }));
}

const STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

/**
 * `kernel.bpf_stats_enabled` switched on for the benchmark and back to its previous value
 * at the end. It is a global switch: another user of the machine may flip it meanwhile,
 * which {@linkcode BpfStatsSwitch.ensure} detects (and undoes) at each sample.
 */
export class BpfStatsSwitch {
  readonly previous: string;
  #restored = false;

  private constructor(previous: string) {
    this.previous = previous;
  }

  /** Sets the sysctl to 1 and remembers the old value. Needs root. */
  static enable(): BpfStatsSwitch {
    const previous = Deno.readTextFileSync(STATS_SYSCTL).trim();
    Deno.writeTextFileSync(STATS_SYSCTL, "1");
    return new BpfStatsSwitch(previous);
  }

  /** True when it was still on; turns it on again otherwise. */
  ensure(): boolean {
    if (Deno.readTextFileSync(STATS_SYSCTL).trim() === "1") return true;
    Deno.writeTextFileSync(STATS_SYSCTL, "1");
    return false;
  }

  /** Writes the previous value back. Idempotent. */
  restore(): void {
    if (this.#restored) return;
    this.#restored = true;
    Deno.writeTextFileSync(STATS_SYSCTL, this.previous);
  }
}
