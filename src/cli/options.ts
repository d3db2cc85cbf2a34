/**
 * Command-line parsing shared by every command: `node:util` parseArgs (Deno's Node
 * compatibility; JSR's @std/cli is unreachable from these machines) with the global flags,
 * and its errors turned into {@linkcode UsageError}.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";
import { DEFAULT_CRI_TIMEOUT_MS } from "../runtime/cri_client.ts";

/** Flags every command accepts. */
export const GLOBAL_OPTIONS = {
  "runtime-endpoint": { type: "string", short: "r" },
  "timeout": { type: "string" },
  "host-root": { type: "string" },
  "debug": { type: "boolean" },
  "help": { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** Help lines of the global flags. */
export const GLOBAL_HELP = `Global flags:
  -r, --runtime-endpoint E  CRI endpoint (unix:///path or /path); else CONTAINER_RUNTIME_ENDPOINT,
                            runtime-endpoint in /etc/crictl.yaml, then the well-known sockets
      --timeout D           deadline of each CRI call (e.g. 500ms, 3s; default ${
  DEFAULT_CRI_TIMEOUT_MS / 1000
}s)
      --host-root DIR       the host's / is mounted at DIR (running inside a container)
      --debug               explain runtime discovery on stderr
  -h, --help                this help`;

/** The global flags' values, normalised. */
export interface GlobalFlags {
  runtimeEndpoint?: string;
  timeoutMs: number;
  hostRoot?: string;
  debug: boolean;
  help: boolean;
}

/**
 * Parses `args` with the command's own options plus the global ones (strict: unknown flags
 * are errors).
 * @throws {UsageError} on an unknown flag, a missing value, or a bad global value.
 */
// deno-lint-ignore explicit-module-boundary-types -- the values' type is inferred per command by parseArgs
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = false,
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    throw new UsageError(`${message.replace(/\.$/, "")} (see "crienrich ${command} --help")`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const global: GlobalFlags = {
    timeoutMs: values["timeout"] === undefined
      ? DEFAULT_CRI_TIMEOUT_MS
      : parseDurationMs(String(values["timeout"]), "--timeout"),
    debug: values["debug"] === true,
    help: values["help"] === true,
  };
  if (typeof values["runtime-endpoint"] === "string") {
    global.runtimeEndpoint = values["runtime-endpoint"];
  }
  if (typeof values["host-root"] === "string") global.hostRoot = values["host-root"];
  return { values: parsed.values, positionals: parsed.positionals, global };
}

/**
 * Parses a duration: a number with unit ms, s, m or h (`500ms`, `3s`, `1.5m`); a bare
 * number means seconds. Returns milliseconds.
 * @throws {UsageError} on anything else, or a value ≤ 0.
 */
export function parseDurationMs(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const value = match ? Number(match[1]) * unit[(match[2] ?? "s") as keyof typeof unit] : NaN;
  if (!(value > 0)) {
    throw new UsageError(`Invalid ${flag} "${text}": expected a duration like 500ms, 5s or 2m`);
  }
  return value;
}

/** Parses `-o` against the formats a command supports. @throws {UsageError} */
export function parseOutputFormat<F extends string>(
  value: unknown,
  formats: readonly F[],
  fallback: F,
): F {
  if (value === undefined) return fallback;
  if (!formats.includes(value as F)) {
    throw new UsageError(`Invalid output format "${value}": expected one of ${formats.join(", ")}`);
  }
  return value as F;
}
