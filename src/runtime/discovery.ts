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
} from "./endpoints.ts";
import { CliError, errorMessage, PermissionError, RuntimeUnavailableError } from "../errors.ts";

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
 * @throws {RuntimeUnavailableError} when no candidate answers, naming each one tried.
 * @throws {PermissionError} when the only reachable sockets deny access.
 */
export async function connectRuntime(
  options: DiscoveryOptions,
  onSkip: (line: string) => void = () => {},
): Promise<ConnectedRuntime> {
  const candidates = endpointCandidates(options);
  const failures: { probe: EndpointProbe; error: CliError }[] = [];
  for (const candidate of candidates) {
    const { probe, error } = await probeEndpoint(candidate, options.timeoutMs);
    if (!error) {
      return { client: new CriClient(candidate.path, { timeoutMs: options.timeoutMs }), probe };
    }
    if (candidate.source !== "well-known") throw error;
    onSkip(`skip ${probe.endpoint}: ${probe.status}`);
    failures.push({ probe, error });
  }
  const present = failures.filter((f) => f.probe.status !== "missing");
  if (present.length > 0 && present.every((f) => f.error instanceof PermissionError)) {
    throw present[0]!.error;
  }
  if (present.length === 1) throw present[0]!.error;
  const tried = present.length > 0
    ? present.map((f) => `${f.probe.endpoint} (${f.probe.status})`).join(", ")
    : "no well-known socket exists";
  throw new RuntimeUnavailableError(
    `No container runtime found: ${tried}; set --runtime-endpoint or CONTAINER_RUNTIME_ENDPOINT`,
  );
}
