/**
 * Command-line parsing shared by every command: `node:util` parseArgs (Deno's Node
 * compatibility; JSR's @std/cli is unreachable from these machines) with the global flags,
 * and its errors turned into {@linkcode UsageError}.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage, UsageError } from "../errors.ts";
import { DEFAULT_CRI_TIMEOUT_MS } from "../runtime/cri_client.ts";
import { runtimeEndpointPath } from "../runtime/endpoints.ts";
import { EVENT_KINDS, type EventKind } from "../bpf/event.ts";

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
  -r, --runtime-endpoint E  the one runtime socket to ask (CRI, Docker Engine, Podman;
                            unix:///path or /path); else CONTAINER_RUNTIME_ENDPOINT,
                            runtime-endpoint in /etc/crictl.yaml, else every well-known socket
      --timeout D           deadline of each runtime call (e.g. 500ms, 3s; default ${
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

/** Options as `node:util` parseArgs takes them. */
type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args` with the command's own options plus the global ones (strict: unknown flags
 * are errors), and validates the global flags' values.
 *
 * A value that looks like a negative number is taken as the value of the flag before it
 * (`--duration -1s` is `--duration=-1s`), so that the flag's own check can say what is wrong
 * with it; no flag of crienrich is a digit.
 *
 * @param command the command's name, for the help hint in messages
 * @param allowPositionals whether the command takes arguments (only `inspect` does)
 * @throws {UsageError} on an unknown flag, a missing value, an unexpected argument, or a bad
 *   global value, in crienrich's own one-line form (see {@linkcode describeParseError}).
 */
// deno-lint-ignore explicit-module-boundary-types -- the values' type is inferred per command by parseArgs
export function parseCommandArgs<O extends OptionsConfig>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = false,
) {
  const config = { ...GLOBAL_OPTIONS, ...options };
  let parsed;
  try {
    parsed = parseArgs({
      args: attachNegativeValues(args, config),
      options: config,
      allowPositionals,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(
      `${describeParseError(command, args, config, error)} (see "crienrich ${command} --help")`,
      { cause: error },
    );
  }
  // A value flag given twice is a mistake the parser would settle silently (the last wins).
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option") continue;
    const option = config[token.name];
    if (option?.type !== "string" || option.multiple) continue;
    if (seen.has(token.name)) {
      throw new UsageError(
        `Flag --${token.name} given more than once (see "crienrich ${command} --help")`,
      );
    }
    seen.add(token.name);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const global: GlobalFlags = {
    timeoutMs: values["timeout"] === undefined
      ? DEFAULT_CRI_TIMEOUT_MS
      : parseDurationMs(String(values["timeout"]), "--timeout"),
    debug: values["debug"] === true,
    help: values["help"] === true,
  };
  const endpoint = values["runtime-endpoint"];
  if (typeof endpoint === "string") {
    // Checked here, for every command: an empty or pathless endpoint is a typing mistake,
    // not a reason to fall back to the environment or to report a missing socket.
    runtimeEndpointPath(endpoint, "--runtime-endpoint");
    global.runtimeEndpoint = endpoint;
  }
  const hostRoot = values["host-root"];
  if (typeof hostRoot === "string") {
    let directory = false;
    try {
      directory = hostRoot !== "" && Deno.statSync(hostRoot).isDirectory;
    } catch { /* missing: said below */ }
    if (!directory) throw new UsageError(`Invalid --host-root "${hostRoot}": expected a directory`);
    global.hostRoot = hostRoot;
  }
  return { values: parsed.values, positionals: parsed.positionals, global };
}

/** `--name VALUE` or `-c VALUE` where VALUE looks like a negative number: joined with `=`. */
function attachNegativeValues(args: readonly string[], options: OptionsConfig): string[] {
  const takesValue = (arg: string) => {
    if (arg.startsWith("--")) return options[arg.slice(2)]?.type === "string";
    if (/^-[^-]$/.test(arg)) {
      return Object.values(options).some((o) => o.short === arg[1] && o.type === "string");
    }
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (next !== undefined && /^-\d/.test(next) && takesValue(arg)) {
      out.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Rewrites a parseArgs error into crienrich's words. The offending argument is found again
 * from parseArgs' own tokens (a lenient second pass), so the text does not depend on Node's
 * wording, which names internals ("argument is ambiguous") and mixes quote styles.
 */
function describeParseError(
  command: string,
  args: readonly string[],
  options: OptionsConfig,
  error: unknown,
): string {
  let tokens: ReturnType<typeof lenientTokens> = [];
  try {
    tokens = lenientTokens(args, options);
  } catch {
    // Nothing better to point at: the generic form below.
  }
  const code = (error as { code?: string })?.code;
  for (const token of tokens) {
    if (token.kind === "positional") {
      if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
        return `Unexpected argument "${token.value}": crienrich ${command} takes no arguments`;
      }
      continue;
    }
    if (token.kind !== "option") continue;
    const option = options[token.name];
    const flag = token.rawName;
    if (!option) return `Unknown flag "${flag}"`;
    if (option.type === "boolean" && token.value !== undefined) {
      return `Flag ${flag} takes no value, got "${token.value}"`;
    }
    if (option.type === "string") {
      if (token.value === undefined) return `Missing value for ${flag}`;
      if (!token.inlineValue && token.value.startsWith("-")) {
        return `Missing value for ${flag}: "${token.value}" is a flag (write --${token.name}=${token.value} if it is the value)`;
      }
    }
  }
  return `Invalid command line: ${errorMessage(error).split("\n")[0]!.replace(/\.$/, "")}`;
}

function lenientTokens(args: readonly string[], options: OptionsConfig) {
  return parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
    .tokens;
}

/** Longest duration: setTimeout's limit, 2^31 - 1 ms (about 596 h); longer ones fire at once. */
const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parses a duration: a number with unit ms, s, m or h (`500ms`, `3s`, `1.5m`); a bare
 * number means seconds. Returns milliseconds.
 * @throws {UsageError} on anything else, a value ≤ 0 ("must be positive"), or one longer
 *   than 596 h.
 */
export function parseDurationMs(text: string, flag: string): number {
  const match = /^(-?)(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(`Invalid ${flag} "${text}": expected a duration like 500ms, 5s or 2m`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const value = Number(match[2]) * unit[(match[3] ?? "s") as keyof typeof unit];
  if (match[1] === "-" || !(value > 0)) {
    throw new UsageError(`Invalid ${flag} "${text}": must be positive`);
  }
  if (value > MAX_DURATION_MS) {
    throw new UsageError(`Invalid ${flag} "${text}": must be at most 596h`);
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
    const what = formats.length === 1 ? formats[0] : `one of ${formats.join(", ")}`;
    throw new UsageError(`Invalid -o "${value}": expected ${what}`);
  }
  return value as F;
}

/**
 * The kinds of `--events` (comma-separated, default `exec,exit`).
 *
 * @throws {UsageError} for an unknown or empty kind
 */
export function parseEventKinds(text: string | undefined): Set<EventKind> {
  const kinds = new Set<EventKind>();
  for (const part of (text ?? "exec,exit").split(",")) {
    const kind = part.trim() as EventKind;
    if (!(EVENT_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(
        `Invalid --events "${text}": expected a comma-separated list of ${EVENT_KINDS.join(", ")}`,
      );
    }
    kinds.add(kind);
  }
  return kinds;
}
