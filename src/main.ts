/**
 * crienrich's entry point: picks the command, runs it, prints any error as one line on
 * stderr and exits with its code (README "Exit codes"). Nothing else lives here.
 *
 * @module
 */
import { escapeControl } from "./output/escape.ts";
import { CliError, errorMessage, ExitCode, UsageError } from "./errors.ts";
import { LineWriter } from "./output/writer.ts";
import type { CommandIO } from "./cli/io.ts";
import { runRuntimes } from "./cli/runtimes.ts";
import { runPs } from "./cli/ps.ts";
import { runInspect } from "./cli/inspect.ts";
import { runTrace } from "./cli/trace.ts";
import { runDoctor } from "./cli/doctor.ts";
import { runVersion } from "./cli/version.ts";

const COMMANDS: Record<
  string,
  { run: (args: string[], io: CommandIO) => Promise<ExitCode>; summary: string }
> = {
  trace: { run: runTrace, summary: "live exec/exit events of pods, enriched with their pod" },
  ps: { run: runPs, summary: "list containers with their pods" },
  inspect: { run: runInspect, summary: "one container's record as JSON" },
  runtimes: {
    run: runRuntimes,
    summary: "runtime sockets tried (CRI, Docker Engine, Podman, containerd) and what answers",
  },
  doctor: { run: runDoctor, summary: "check that this node can run crienrich, and what to fix" },
  version: { run: runVersion, summary: "versions of crienrich, Deno, libbpf and the kernel" },
};

const USAGE = `crienrich — process events of Kubernetes pods, enriched in-process from the CRI

Usage: crienrich <command> [flags]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join("\n")}

Run "crienrich <command> --help" for a command's flags.`;

/**
 * Runs the CLI with `args`; returns the exit code. Never throws.
 *
 * Every diagnostic line a command writes goes through {@linkcode escapeControl} here, once:
 * errors, notices and debug lines quote what the user typed and what containers, runtimes
 * and processes named themselves (a container name, a daemon's error message, a comm), so a
 * line on stderr is always one line without terminal control sequences.
 */
export async function main(args: string[], rawIo: CommandIO): Promise<number> {
  const io: CommandIO = { ...rawIo, diagnostics: (line) => rawIo.diagnostics(escapeControl(line)) };
  const [name, ...rest] = args;
  try {
    if (name === undefined) {
      // Nothing asked: the usage is a complaint (stderr, exit 2), not output.
      rawIo.diagnostics(USAGE);
      return ExitCode.Usage;
    }
    if (name === "help" || name === "--help" || name === "-h") {
      io.out.writeLine(USAGE);
      return ExitCode.Ok;
    }
    const command = COMMANDS[name];
    if (!command) {
      throw new UsageError(
        `Unknown command "${name}": expected one of ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    return await command.run(rest, io);
  } catch (error) {
    // Messages quote what the user typed and what containers named themselves: escaped by
    // `io`, so an error is always one line without terminal control sequences.
    if (error instanceof CliError) {
      io.diagnostics(`crienrich: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      io.diagnostics(`crienrich: ${errorMessage(error)} (run as root)`);
      return ExitCode.PermissionDenied;
    }
    io.diagnostics(
      `crienrich: unexpected error: ${errorMessage(error).split("\n")[0]!}`,
    );
    if (Deno.env.get("CRIENRICH_DEBUG")) rawIo.diagnostics(String((error as Error)?.stack));
    return ExitCode.Failure;
  }
}

if (import.meta.main) {
  const io: CommandIO = {
    out: new LineWriter(),
    // deno-lint-ignore no-console
    diagnostics: (line) => console.error(line),
  };
  Deno.exit(await main(Deno.args, io));
}
