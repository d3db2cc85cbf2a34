/**
 * A `crienrich trace -o json` subprocess for the real end-to-end tests: its NDJSON events
 * parsed, its stderr lines watched as they come.
 *
 * @module
 */

const mainPath = new URL("../../src/main.ts", import.meta.url).pathname;

/** An event line of `trace -o json` (README "Trace events"). */
export interface TraceEvent {
  time: string;
  type: "exec" | "exit" | "connect" | "accept" | "close" | "open";
  node: string;
  process: {
    pid: number;
    ppid: number;
    comm: string;
    binary?: string;
    args?: string[];
    exit_code?: number;
    signal?: number;
    duration_ns?: number;
  };
  /** connect, accept, close: the TCP connection, local end first. */
  net?: {
    protocol: "tcp";
    family: "ipv4" | "ipv6";
    saddr: string;
    sport: number;
    daddr: string;
    dport: number;
    result: "established" | "failed" | "closed";
    state: string;
    error: string | null;
    duration_ns: number;
  };
  /** open: the path, flags and outcome. */
  file?: {
    path: string;
    path_truncated: boolean;
    flags: string[];
    mode: number;
    fd: number | null;
    error: string | null;
    syscall: "openat" | "openat2";
    duration_ns: number;
  };
  container: {
    id: string;
    name: string;
    image: string;
    image_id: string;
    runtime: string;
    compose: { project: string; service: string } | null;
  } | null;
  pod: { name: string; namespace: string; uid: string; labels: Record<string, string> } | null;
  pod_sandbox?: boolean;
  unresolved?: boolean;
  mntns_id?: number;
  cgroup_id?: number;
}

/** A `lost` line of `trace -o json`: samples the kernel dropped on one CPU. */
export interface LostRecord {
  time: string;
  type: "lost";
  node: string;
  cpu: number;
  lost: number;
}

/** A `crienrich trace` subprocess whose stdout is NDJSON and stderr lines are watched. */
export class TraceProcess {
  readonly child: Deno.ChildProcess;
  readonly stderrLines: string[] = [];
  readonly #stdout: Promise<string>;
  readonly #stderrDone: Promise<void>;

  /** Starts `crienrich trace -o json ARGS` against the runtime at `socket`. */
  constructor(args: string[], socket: string) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", mainPath, "trace", "-o", "json", ...args],
      env: { CONTAINER_RUNTIME_ENDPOINT: socket, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#stdout = new Response(child.stdout).text();
    this.#stderrDone = (async () => {
      let buffer = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        this.stderrLines.push(...lines);
      }
      if (buffer) this.stderrLines.push(buffer);
    })();
  }

  /** Waits until a stderr line matches (the tracer announces itself when attached). */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const line = this.stderrLines.find((l) => pattern.test(l));
      if (line) return line;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no stderr line matching ${pattern}; got ${JSON.stringify(this.stderrLines)}`);
  }

  /** Waits for exit; returns the code, the events, the lost records and stderr. */
  async finish(): Promise<
    { code: number; events: TraceEvent[]; lost: LostRecord[]; stderr: string[] }
  > {
    const [status, stdout] = await Promise.all([this.child.status, this.#stdout]);
    await this.#stderrDone;
    const lines: (TraceEvent | LostRecord)[] = stdout.split("\n").filter(Boolean)
      .map((line) => JSON.parse(line));
    return {
      code: status.code,
      events: lines.filter((l): l is TraceEvent => l.type !== "lost"),
      lost: lines.filter((l): l is LostRecord => l.type === "lost"),
      stderr: this.stderrLines,
    };
  }
}
