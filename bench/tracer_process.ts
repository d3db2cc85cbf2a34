/**
 * A tracer under measurement (crienrich or bpftrace) as a child process: spawned with its
 * stdout going straight to a file (through `sh -c 'exec ...'`, so the pid the benchmark
 * holds is the tracer itself and the benchmark spends no CPU relaying its output), its
 * stderr read by the benchmark, stopped with SIGINT (SIGKILL after a deadline).
 *
 * @module
 */

/** How to run one tracer and read its output. */
export interface TracerSpec {
  /** "crienrich" or "bpftrace". */
  name: string;
  /** argv; the first element is looked up in PATH. */
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Where the "attached" line appears, and what it looks like. */
  attached: { stream: "stdout" | "stderr"; pattern: RegExp };
}

/** Rejects after `ms` milliseconds with an error naming `what`. */
export function deadline<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running tracer. Create with {@linkcode TracerProcess.spawn}; always {@linkcode stop}. */
export class TracerProcess {
  readonly spec: TracerSpec;
  readonly outFile: string;
  readonly pid: number;
  /** performance.now() just before the spawn. */
  readonly spawnedAt: number;
  readonly stderrLines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stderrDone: Promise<void>;
  #exit: Deno.CommandStatus | null = null;
  readonly #exited: Promise<Deno.CommandStatus>;

  private constructor(spec: TracerSpec, outFile: string, child: Deno.ChildProcess, at: number) {
    this.spec = spec;
    this.outFile = outFile;
    this.#child = child;
    this.pid = child.pid;
    this.spawnedAt = at;
    this.#exited = child.status.then((status) => (this.#exit = status));
    this.#stderrDone = this.#readStderr();
  }

  /** Starts `spec` with stdout to `outFile` (created or truncated). */
  static spawn(spec: TracerSpec, outFile: string): TracerProcess {
    const at = performance.now();
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'out=$1; shift; exec "$@" >"$out"', "sh", outFile, ...spec.command],
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    return new TracerProcess(spec, outFile, child, at);
  }

  async #readStderr(): Promise<void> {
    let partial = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stderr) {
      partial += decoder.decode(chunk, { stream: true });
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      this.stderrLines.push(...lines);
    }
    if (partial) this.stderrLines.push(partial);
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#exit === null;
  }

  /** The output file's text so far. */
  output(): string {
    try {
      return Deno.readTextFileSync(this.outFile);
    } catch {
      return "";
    }
  }

  #outputSize(): number {
    try {
      return Deno.statSync(this.outFile).size;
    } catch {
      return 0;
    }
  }

  /**
   * Polls (every `everyMs`) until `test` holds, up to `timeoutMs`; fails early when the
   * process exits. Resolves to performance.now() of the first poll that saw it.
   */
  async waitFor(
    what: string,
    test: () => boolean,
    timeoutMs: number,
    everyMs = 5,
  ): Promise<number> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      if (test()) return performance.now();
      if (!this.running) {
        throw new Error(
          `${this.spec.name} exited (${this.#exit?.code}) before ${what}: ${this.stderrTail()}`,
        );
      }
      if (performance.now() > end) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${what} from ${this.spec.name}`,
        );
      }
      await sleep(everyMs);
    }
  }

  /** Waits for the tracer's "attached" line; resolves to the time it was seen. */
  waitAttached(timeoutMs: number): Promise<number> {
    const { stream, pattern } = this.spec.attached;
    return this.waitFor(
      "attaching",
      () =>
        stream === "stderr"
          ? this.stderrLines.some((line) => pattern.test(line))
          : pattern.test(this.output()),
      timeoutMs,
    );
  }

  /** Waits for an output line containing `text` (checked when the file grows). */
  waitOutput(text: string, timeoutMs: number): Promise<number> {
    let size = -1;
    return this.waitFor(`output "${text}"`, () => {
      const now = this.#outputSize();
      if (now === size) return false;
      size = now;
      return this.output().includes(text);
    }, timeoutMs);
  }

  /**
   * Waits until the output file has not grown for `quietMs` (the tracer drained what the
   * kernel had sent), at most `timeoutMs`. Resolves to whether it went quiet in time.
   */
  async waitQuiet(quietMs: number, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    let size = this.#outputSize();
    let since = performance.now();
    while (performance.now() < end) {
      await sleep(50);
      const now = this.#outputSize();
      if (now !== size) {
        size = now;
        since = performance.now();
      } else if (performance.now() - since >= quietMs) {
        return true;
      }
    }
    return false;
  }

  /** The last few stderr lines, for error messages. */
  stderrTail(lines = 5): string {
    return this.stderrLines.slice(-lines).join(" | ") || "(no stderr)";
  }

  /**
   * Sends SIGINT and waits up to `timeoutMs` for the exit, then SIGKILLs. Idempotent.
   * Resolves to the exit status and whether it had to be killed.
   */
  async stop(timeoutMs: number): Promise<{ status: Deno.CommandStatus; killed: boolean }> {
    let killed = false;
    if (this.running) {
      try {
        this.#child.kill("SIGINT");
      } catch {
        // Already exited.
      }
      try {
        await deadline(`${this.spec.name} to exit on SIGINT`, timeoutMs, this.#exited);
      } catch {
        killed = true;
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Exited just now.
        }
      }
    }
    const status = await this.#exited;
    await deadline(`${this.spec.name} stderr to close`, 5000, this.#stderrDone).catch(() => {});
    return { status, killed };
  }
}
