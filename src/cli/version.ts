/**
 * `crienrich version`: versions of crienrich, the Deno runtime it runs on, libbpf and the
 * kernel — what a bug report needs.
 *
 * crienrich's version comes from `deno.json`, imported as a JSON module: it becomes part of
 * the module graph, so `deno compile` and `deno bundle` embed it and nothing is read from
 * the source tree at run time.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { libbpfVersion } from "../bpf/prerequisites.ts";
import { ExitCode } from "../errors.ts";
import { GLOBAL_HELP, parseCommandArgs, parseOutputFormat } from "./options.ts";
import type { CommandIO } from "./io.ts";

/** crienrich's version, from `deno.json` (embedded at build time). */
export const CRIENRICH_VERSION: string = denoJson.version;

/** What `crienrich version` reports; the keys are those of the table and of `-o json`. */
export interface VersionInfo {
  /** crienrich's version (`deno.json` "version"). */
  crienrich: string;
  /** Deno, V8 and TypeScript versions of the runtime (`Deno.version`). */
  deno: string;
  v8: string;
  typescript: string;
  /** libbpf's `"major.minor"`, `null` when it cannot be loaded. */
  libbpf: string | null;
  /** Kernel release (`uname -r`). */
  kernel: string;
  /** CPU architecture (`Deno.build.arch`: `x86_64`, `aarch64`). */
  arch: string;
}

/**
 * Collects the versions. Never throws: a libbpf that cannot be loaded is `null`.
 * Needs `--allow-ffi` (libbpf) and `--allow-sys=osRelease`.
 *
 * @param libbpfPath libbpf to load instead of the default search (`--libbpf PATH`).
 */
export function versionInfo(libbpfPath?: string): VersionInfo {
  let libbpf: string | null;
  try {
    libbpf = libbpfVersion(libbpfPath);
  } catch {
    libbpf = null;
  }
  return {
    crienrich: CRIENRICH_VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libbpf,
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
  };
}

const HELP = `Usage: crienrich version [-o table|json] [--libbpf PATH]

Prints crienrich's version and those of Deno, V8, TypeScript, libbpf ("not found" when it
cannot be loaded; exit code 0 all the same), the kernel release and the architecture, as
"key: value" lines, or one JSON object (-o json; libbpf null when not found).

Flags:
  -o, --output F       table (default) or json
      --libbpf PATH    libbpf shared object to load (default: libbpf.so.1 from the system)

${GLOBAL_HELP}`;

/**
 * Runs `crienrich version`; always exit code 0 once the flags parse.
 * @throws {UsageError} on bad flags
 */
export function runVersion(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, global } = parseCommandArgs("version", args, {
    output: { type: "string", short: "o" },
    libbpf: { type: "string" },
  });
  if (global.help) {
    io.out.writeLine(HELP);
    return Promise.resolve(ExitCode.Ok);
  }
  const format = parseOutputFormat(values.output, ["table", "json"] as const, "table");
  const info = versionInfo(values.libbpf);
  if (format === "json") {
    io.out.writeJson(info);
  } else {
    for (const [key, value] of Object.entries(info)) {
      io.out.writeLine(`${key}: ${value ?? "not found"}`);
    }
  }
  return Promise.resolve(ExitCode.Ok);
}
