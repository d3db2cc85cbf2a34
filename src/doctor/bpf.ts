/**
 * libbpf, and the real thing: crienrich's BPF object loaded, attached and detached.
 *
 * The `bpf` check opens a {@linkcode ProcessTracer} exactly as `trace` does (embedded
 * object, CO-RE load, the programs of every checked event kind attached, perf buffer
 * mapped), with nothing sent to
 * user space (`traceHost` and `sendUnknown` off, so every event is dropped in the kernel),
 * then closes it. When `bpftool` is installed it also confirms that none of the programs
 * it held (its own file descriptors say which: a trace running beside it has its own)
 * outlived `close()`.
 *
 * @module
 */
import { CliError, errorMessage, ExitCode } from "../errors.ts";
import { openLibbpf } from "../bpf/libbpf.ts";
import { ProcessTracer } from "../bpf/tracer.ts";
import { bpfProgramIds } from "../runtime/proc.ts";
import { type Check, fail, ok } from "./check.ts";
import { availableKinds } from "./tracing.ts";

const PROGRAM_PREFIX = "crienrich_";

/** Check `libbpf`: libbpf 1.x loads (`--libbpf PATH`, else the system's), and its version. */
export const libbpfCheck: Check = {
  name: "libbpf",
  run(options) {
    let lib;
    try {
      lib = openLibbpf(options.libbpfPath);
    } catch (error) {
      // The message repeats the hint below; keep the path and the loader's reason.
      const detail = errorMessage(error).replace(/: install it \(.*?\) or pass --libbpf PATH/, "");
      return fail(
        detail,
        "install libbpf 1.x (apt-get install libbpf1, dnf install libbpf) or pass --libbpf PATH",
        ExitCode.NotSupported,
      );
    }
    return ok(`${lib.version()} (${lib.path})`);
  },
};

/**
 * Lists the ids of loaded BPF programs whose name starts with `crienrich_`, from
 * `bpftool -j prog show`.
 *
 * @returns the ids, or a reason string when bpftool is missing or fails.
 */
export async function crienrichProgramIds(): Promise<Set<number> | string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("bpftool", {
      args: ["-j", "prog", "show"],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(5000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "bpftool not installed";
    return `bpftool failed: ${errorMessage(error)}`;
  }
  if (!output.success) return `bpftool exited with ${output.code}`;
  const programs = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    id: number;
    name?: string;
  }[];
  return new Set(programs.filter((p) => p.name?.startsWith(PROGRAM_PREFIX)).map((p) => p.id));
}

/** Check `bpf`: the tracer opens (load, attach, perf buffer) and closes cleanly. */
export const bpfCheck: Check = {
  name: "bpf",
  needs: ["privileges", "kernel", "btf", "tracepoints", "libbpf"],
  async run(options) {
    const started = performance.now();
    // Kinds whose tracepoints are missing were reported by `tracepoints` (warn or fail).
    const kinds = availableKinds(options);
    let tracer: ProcessTracer;
    try {
      tracer = await ProcessTracer.open({
        ...(options.libbpfPath ? { libbpfPath: options.libbpfPath } : {}),
        traceExec: kinds.has("exec"),
        traceExit: kinds.has("exit"),
        traceConnect: kinds.has("connect"),
        traceAccept: kinds.has("accept"),
        traceClose: kinds.has("close"),
        traceOpen: kinds.has("open"),
        traceHost: false,
        sendUnknown: false,
      });
    } catch (error) {
      const code = error instanceof CliError ? error.exitCode : ExitCode.NotSupported;
      return fail(
        errorMessage(error),
        code === ExitCode.PermissionDenied
          ? "run as root"
          : "fix the checks above; with all of them ok, please report this message",
        code,
      );
    }
    // This process holds no other BPF program; a trace running beside it holds its own.
    const held = bpfProgramIds("self");
    try {
      tracer.close();
    } catch (error) {
      return fail(errorMessage(error), "please report this message", ExitCode.Failure);
    }
    const ms = Math.round(performance.now() - started);
    const done = `loaded, attached the programs of ${
      [...kinds].join("+")
    } events, mapped the perf buffer, detached (${ms} ms)`;
    // Program ids are freed when the last reference goes, which the kernel may defer.
    let left: number[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const listed = await crienrichProgramIds();
      if (typeof listed === "string") return ok(`${done}; ${listed}: not verified`);
      left = held.filter((id) => listed.has(id));
      if (left.length === 0) return ok(`${done}; bpftool lists no program left`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return fail(
      `${done}, but bpftool still lists program ids ${left.join(", ")}`,
      "please report this message",
      ExitCode.Failure,
    );
  },
};
