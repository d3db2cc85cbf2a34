/**
 * Runtime discovery: try each candidate CRI socket and keep the first that answers a CRI
 * `Version` call within the timeout.
 *
 * A socket counts only after `Version` answers; one that exists but does not answer, refuses,
 * or speaks something else is reported with its reason and never hangs the tool (every call
 * has a deadline).
 *
 * @module
 */
import { CriClient, DEFAULT_CRI_TIMEOUT_MS } from "./cri_client.ts";
import {
  crictlYamlPath,
  type EndpointCandidate,
  endpointCandidates,
  type EndpointSettings,
  endpointSourceName,
} from "./endpoints.ts";
import {
  CliError,
  errorMessage,
  ExitCode,
  PermissionError,
  RuntimeUnavailableError,
} from "../errors.ts";

/** Outcome of probing one socket. */
export type ProbeStatus =
  | "ok"
  | "missing"
  | "not a socket"
  | "refused"
  | "no answer"
  | "not CRI"
  | "permission denied";

/** What probing one candidate found. JSON field names are part of `runtimes -o json`. */
export interface EndpointProbe {
  /** `unix://` URL of the socket. */
  endpoint: string;
  source: EndpointCandidate["source"];
  usedBy?: string;
  status: ProbeStatus;
  /** Why the status is not ok: one line. */
  reason?: string;
  /** From `Version`, when ok. */
  runtimeName?: string;
  runtimeVersion?: string;
  criApiVersion?: string;
}

/** Options of discovery. */
export interface DiscoveryOptions extends EndpointSettings {
  /** Deadline of each CRI call, in milliseconds. */
  timeoutMs?: number;
}

/** Reads the settings crictl would read: env and /etc/crictl.yaml (under hostRoot). */
export async function readEndpointSettings(
  flag: string | undefined,
  hostRoot: string | undefined,
): Promise<EndpointSettings> {
  // Only a missing file means "no crictl.yaml"; Deno's NotCapable (run without --allow-all:
  // Deno gates /etc) or EACCES must not silently drop the user's endpoint.
  const crictlYaml = await Deno.readTextFile(crictlYamlPath(hostRoot)).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  return {
    flag,
    env: Deno.env.get("CONTAINER_RUNTIME_ENDPOINT") || undefined,
    crictlYaml,
    hostRoot,
  };
}

/** Probes one socket: existence, type, then a CRI `Version` call with a deadline. */
export async function probeEndpoint(
  candidate: EndpointCandidate,
  timeoutMs = DEFAULT_CRI_TIMEOUT_MS,
): Promise<{ probe: EndpointProbe; error?: CliError }> {
  const base = {
    endpoint: `unix://${candidate.path}`,
    source: candidate.source,
    ...(candidate.usedBy ? { usedBy: candidate.usedBy } : {}),
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(candidate.path);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) {
      const reason = "permission denied";
      return {
        probe: { ...base, status: "permission denied", reason },
        error: new PermissionError(
          `Cannot reach runtime socket "${candidate.path}": ${reason} (run as root)`,
        ),
      };
    }
    return {
      probe: { ...base, status: "missing", reason: "no such file" },
      error: new RuntimeUnavailableError(
        `Cannot connect to runtime socket "${candidate.path}": no such file (is the runtime running?${
          candidate.source === "well-known" ? " set --runtime-endpoint" : ""
        })`,
      ),
    };
  }
  if (!info.isSocket) {
    return {
      probe: { ...base, status: "not a socket", reason: "exists but is not a unix socket" },
      error: new RuntimeUnavailableError(
        `Cannot use runtime endpoint "${candidate.path}": it exists but is not a unix socket`,
      ),
    };
  }
  using client = new CriClient(candidate.path, { timeoutMs });
  try {
    const version = await client.version();
    return {
      probe: {
        ...base,
        status: "ok",
        runtimeName: version.runtimeName,
        runtimeVersion: version.runtimeVersion,
        criApiVersion: version.runtimeApiVersion,
      },
    };
  } catch (error) {
    const cliError = error instanceof CliError
      ? error
      : new RuntimeUnavailableError(errorMessage(error), { cause: error });
    return {
      probe: { ...base, status: statusOf(cliError), reason: cliError.message },
      error: cliError,
    };
  }
}

function statusOf(error: CliError): ProbeStatus {
  if (error instanceof PermissionError) return "permission denied";
  if (/did not answer/.test(error.message)) return "no answer";
  if (/refused/.test(error.message)) return "refused";
  if (/no such socket/.test(error.message)) return "missing";
  return "not CRI";
}

/** Probes every candidate (for `crienrich runtimes`), in order. */
export async function probeAll(options: DiscoveryOptions): Promise<EndpointProbe[]> {
  const candidates = endpointCandidates(options);
  const results = await Promise.all(
    candidates.map((candidate) => probeEndpoint(candidate, options.timeoutMs)),
  );
  return results.map((result) => result.probe);
}

/** A connected runtime: its client (close it) and what `Version` said. */
export interface ConnectedRuntime {
  client: CriClient;
  probe: EndpointProbe;
}

/**
 * Connects to the runtime to use: the override when one is set (its failure is the error),
 * else the first well-known socket whose `Version` answers.
 *
 * @param onSkip called with one line per well-known socket skipped (for `--debug`).
 * @throws {RuntimeUnavailableError|PermissionError} when no candidate answers, worded by
 *   {@linkcode noRuntimeError} as `crienrich runtimes` words it.
 */
export async function connectRuntime(
  options: DiscoveryOptions,
  onSkip: (line: string) => void = () => {},
): Promise<ConnectedRuntime> {
  const candidates = endpointCandidates(options);
  const probes: EndpointProbe[] = [];
  for (const candidate of candidates) {
    const { probe, error } = await probeEndpoint(candidate, options.timeoutMs);
    if (!error) {
      return { client: new CriClient(candidate.path, { timeoutMs: options.timeoutMs }), probe };
    }
    if (candidate.source === "well-known") onSkip(`skip ${probe.endpoint}: ${probe.status}`);
    probes.push(probe);
  }
  throw noRuntimeError(probes, options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS);
}

/**
 * Why no runtime answered, in the one form every command uses (`runtimes`, `ps`, `inspect`,
 * `trace`; `doctor`'s runtime check says the same): what was tried, then what to do.
 *
 * @param probes every candidate tried, none ok
 * @param timeoutMs the deadline each call had, in milliseconds (named for "no answer")
 * @returns `tried` (`"/x" (refused), ...`), `hint`, and the exit code: 4 when every
 *   socket found denied access, else 3
 * @example describeNoRuntime([{ endpoint: "unix:///x", source: "flag", status: "missing" }], 3000)
 *   // { tried: '"/x" (missing)', hint: "check the endpoint named by --runtime-endpoint, or start the runtime", ... }
 */
export function describeNoRuntime(
  probes: readonly EndpointProbe[],
  timeoutMs: number,
): { tried: string; hint: string; exitCode: ExitCode } {
  const present = probes.filter((p) => p.status !== "missing");
  const shown = present.length > 0 ? present : probes.length === 1 ? probes : [];
  const tried = shown.length > 0
    ? shown.map((p) =>
      `"${p.endpoint.replace(/^unix:\/\//, "")}" (${p.status}${
        p.status === "no answer" ? ` within ${timeoutMs} ms` : ""
      })`
    ).join(", ")
    : `none of the ${probes.length} well-known sockets exists`;
  if (present.length > 0 && present.every((p) => p.status === "permission denied")) {
    return { tried, hint: "run as root", exitCode: ExitCode.PermissionDenied };
  }
  const named = probes.length === 1 && probes[0]!.source !== "well-known"
    ? probes[0]!.source as Exclude<EndpointProbe["source"], "well-known">
    : undefined;
  let hint = named
    ? `check the endpoint named by ${endpointSourceName(named)}, or start the runtime`
    : "start the runtime, or name its socket with --runtime-endpoint or CONTAINER_RUNTIME_ENDPOINT";
  if (present.some((p) => p.status === "no answer")) hint = `raise --timeout, or ${hint}`;
  return { tried, hint, exitCode: ExitCode.RuntimeUnavailable };
}

/**
 * The error for "no runtime answered" (see {@linkcode describeNoRuntime}):
 * `No container runtime found: "/x" (refused); start the runtime, or ...`.
 * @returns a {@linkcode PermissionError} when every socket found denied access, else a
 *   {@linkcode RuntimeUnavailableError}.
 */
export function noRuntimeError(probes: readonly EndpointProbe[], timeoutMs: number): CliError {
  const { tried, hint, exitCode } = describeNoRuntime(probes, timeoutMs);
  const message = `No container runtime found: ${tried}; ${hint}`;
  return exitCode === ExitCode.PermissionDenied
    ? new PermissionError(message)
    : new RuntimeUnavailableError(message);
}
