/**
 * Runtime discovery: try each candidate socket (CRI runtimes, then the Docker Engine) and
 * keep the first that answers its API's version call (CRI `Version`, Engine `GET /version`)
 * within the timeout. A socket whose kind is unknown (one the operator named) is asked in
 * every API of `runtime_kinds.ts` at once.
 *
 * A socket counts only after `Version` answers; one that exists but does not answer, refuses,
 * or speaks something else is reported with its reason and never hangs the tool (every call
 * has a deadline).
 *
 * @module
 */
import { DEFAULT_CRI_TIMEOUT_MS } from "./cri_client.ts";
import type { RuntimeClient, RuntimeKind, RuntimeVersion } from "./client.ts";
import { probeKind, RUNTIME_KINDS, runtimeKind } from "./runtime_kinds.ts";
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
  | "not Docker"
  | "not Podman"
  | "not containerd"
  | "unknown API"
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
  /** The API the socket answered in, when ok; else the one it was tried in, when known. */
  kind?: RuntimeKind;
  /** From `Version`, when ok. */
  runtimeName?: string;
  runtimeVersion?: string;
  /** CRI `v1` or the negotiated Engine API version (`1.41`), when ok. */
  apiVersion?: string;
  /** CRI runtimes only: the same as apiVersion (kept for `runtimes -o json`). */
  criApiVersion?: string;
  /**
   * The other candidate paths that are this same socket (`unix:///var/run/docker.sock` when
   * `/var/run` links to `/run`, `DOCKER_HOST` naming a well-known socket), not probed again.
   */
  alsoAt?: string[];
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
    dockerHost: Deno.env.get("DOCKER_HOST") || undefined,
    xdgRuntimeDir: Deno.env.get("XDG_RUNTIME_DIR") || undefined,
    crictlYaml,
    hostRoot,
  };
}

/**
 * Probes one socket: existence, type, then the version call of its kind (every kind at
 * once when unknown, the first answering in table order wins), each with a deadline.
 * @param timeoutMs deadline of each call, in milliseconds
 * @returns the probe, the version when it answered, and the error when it did not
 */
export async function probeEndpoint(
  candidate: EndpointCandidate,
  timeoutMs = DEFAULT_CRI_TIMEOUT_MS,
): Promise<{ probe: EndpointProbe; version?: RuntimeVersion; error?: CliError }> {
  const base = {
    endpoint: `unix://${candidate.path}`,
    source: candidate.source,
    ...(candidate.usedBy ? { usedBy: candidate.usedBy } : {}),
    ...(candidate.kind ? { kind: candidate.kind } : {}),
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
    const named = candidate.source !== "well-known" && candidate.source !== "DOCKER_HOST";
    return {
      probe: { ...base, status: "missing", reason: "no such file" },
      error: new RuntimeUnavailableError(
        `Cannot connect to runtime socket "${candidate.path}": no such file (is the runtime running?${
          named ? "" : " set --runtime-endpoint"
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
  const kinds = candidate.kind ? [runtimeKind(candidate.kind)] : RUNTIME_KINDS;
  const outcomes = await Promise.all(kinds.map(async (entry) => {
    try {
      return { entry, version: await probeKind(entry.kind, candidate.path, { timeoutMs }) };
    } catch (error) {
      // Deno's own refusals (NotCapable: a permission not granted) are no protocol mismatch.
      const denied = error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied;
      const cliError = error instanceof CliError
        ? error
        : denied
        ? new PermissionError(errorMessage(error), { cause: error })
        : new RuntimeUnavailableError(errorMessage(error), { cause: error });
      return { entry, error: cliError, status: statusOf(cliError, entry.mismatch) };
    }
  }));
  const answered = outcomes.find((o) => o.version);
  if (answered?.version) {
    const { version } = answered;
    return {
      probe: {
        ...base,
        kind: version.kind,
        status: "ok",
        runtimeName: version.name,
        runtimeVersion: version.version,
        apiVersion: version.apiVersion,
        ...(version.kind === "cri" ? { criApiVersion: version.apiVersion } : {}),
      },
      version,
    };
  }
  // The most telling failure: a transport one (refused, no answer, denied) says more than
  // "not this API"; a socket every API disowns is of an unknown API.
  const failed = outcomes.filter((o) => o.error);
  const transport = failed.find((o) => o.status !== o.entry.mismatch);
  if (transport || failed.length === 1) {
    const chosen = transport ?? failed[0]!;
    return {
      probe: { ...base, status: chosen.status!, reason: chosen.error!.message },
      error: chosen.error!,
    };
  }
  const reason = `Cannot use runtime socket "${candidate.path}": it answers, but in none of ${
    failed.map((o) => o.entry.api).join(", ")
  }`;
  return {
    probe: { ...base, status: "unknown API", reason },
    error: new RuntimeUnavailableError(reason, { cause: failed[0]?.error }),
  };
}

function statusOf(error: CliError, mismatch: ProbeStatus): ProbeStatus {
  if (error instanceof PermissionError) return "permission denied";
  if (/did not answer/.test(error.message)) return "no answer";
  if (/refused/.test(error.message)) return "refused";
  if (/no such socket/.test(error.message)) return "missing";
  return mismatch;
}

/**
 * Probes every candidate (for `crienrich runtimes` and `doctor`), in order, each socket
 * once: a candidate that is the same socket as an earlier one (same device and inode) is
 * not probed again but named in the earlier one's `alsoAt`, as {@linkcode connectRuntimes}
 * (`ps`, `trace`) counts it once.
 */
export async function probeAll(options: DiscoveryOptions): Promise<EndpointProbe[]> {
  const distinct = await distinctCandidates(endpointCandidates(options));
  const results = await Promise.all(
    distinct.map(async ({ candidate, alsoAt }) => {
      const probed = await probeWithCompanions(candidate, options.timeoutMs);
      return probed.map(({ probe }) =>
        alsoAt.length > 0 ? { ...probe, alsoAt: alsoAt.map((path) => `unix://${path}`) } : probe
      );
    }),
  );
  return results.flat();
}

/**
 * The candidates, each socket once under its first path (same device and inode: `/run/x`
 * and `/var/run/x` when `/var/run` links to `/run`, `DOCKER_HOST` naming a well-known
 * socket), with the other paths it was found at. Candidates that cannot be stat'ed (missing)
 * are kept as they are.
 * @param onSkip called with one line per candidate left out (for `--debug`)
 */
export async function distinctCandidates(
  candidates: readonly EndpointCandidate[],
  onSkip: (line: string) => void = () => {},
): Promise<{ candidate: EndpointCandidate; alsoAt: string[] }[]> {
  const byIdentity = new Map<string, { candidate: EndpointCandidate; alsoAt: string[] }>();
  const distinct: { candidate: EndpointCandidate; alsoAt: string[] }[] = [];
  const infos = await Promise.all(
    candidates.map((candidate) => Deno.stat(candidate.path).catch(() => undefined)),
  );
  for (const [index, candidate] of candidates.entries()) {
    const info = infos[index];
    const identity = info?.ino ? `${info.dev}:${info.ino}` : undefined;
    const first = identity === undefined ? undefined : byIdentity.get(identity);
    if (first) {
      onSkip(`skip unix://${candidate.path}: the same socket as one tried before`);
      if (first.candidate.path !== candidate.path && !first.alsoAt.includes(candidate.path)) {
        first.alsoAt.push(candidate.path);
      }
      continue;
    }
    const entry = { candidate, alsoAt: [] as string[] };
    if (identity !== undefined) byIdentity.set(identity, entry);
    distinct.push(entry);
  }
  return distinct;
}

/**
 * {@linkcode probeEndpoint}, then, when the socket answered, the kinds it serves besides
 * (containerd's own API on a containerd CRI socket: a row's `besides` in
 * `runtime_kinds.ts`), each probed within the deadline. A companion that does not answer is
 * left out.
 * @returns the socket's probe first, then one per companion kind that answered
 */
export async function probeWithCompanions(
  candidate: EndpointCandidate,
  timeoutMs = DEFAULT_CRI_TIMEOUT_MS,
): Promise<Awaited<ReturnType<typeof probeEndpoint>>[]> {
  const first = await probeEndpoint(candidate, timeoutMs);
  const answered = first.version;
  if (!answered) return [first];
  const companions = await Promise.all(
    RUNTIME_KINDS.filter((entry) => entry.kind !== answered.kind && entry.besides?.(answered))
      .map((entry) => probeEndpoint({ ...candidate, kind: entry.kind }, timeoutMs)),
  );
  return [first, ...companions.filter((companion) => companion.version)];
}

/** A connected runtime: its client (close it) and what its probe said. */
export interface ConnectedRuntime {
  client: RuntimeClient;
  probe: EndpointProbe;
}

/**
 * Connects to the runtime to use: the override when one is set (its failure is the error),
 * else the first well-known socket (CRI ones first, then `DOCKER_HOST`'s and Docker's) whose
 * version call answers, through the client its kind's row in `runtime_kinds.ts` opens.
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
    const { probe, version, error } = await probeEndpoint(candidate, options.timeoutMs);
    if (!error && version) {
      const client = runtimeKind(version.kind).open(candidate.path, {
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.hostRoot ? { hostRoot: options.hostRoot } : {}),
      }, version);
      return { client, probe };
    }
    if (candidate.source === "well-known" || candidate.source === "DOCKER_HOST") {
      onSkip(`skip ${probe.endpoint}: ${probe.status}`);
    }
    probes.push(probe);
  }
  throw noRuntimeError(probes, options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS);
}

/** Every runtime that answered, and the sockets found that did not. */
export interface ConnectedRuntimes {
  /** Clients of the runtimes that answered, in discovery order (close them). */
  runtimes: ConnectedRuntime[];
  /** Sockets that exist but did not answer (refused, no answer, another API, denied). */
  failed: EndpointProbe[];
}

/**
 * Connects to every runtime of the node: the override alone when one is set (its failure is
 * the error), else every well-known socket (CRI ones, then `DOCKER_HOST`'s and Docker's)
 * whose version call answers. All are probed at once, each within the timeout, so a hung
 * socket delays discovery by one deadline at most; a socket reachable by two paths
 * (`/run/x.sock` and `/var/run/x.sock` when `/var/run` links to `/run`) counts once, under
 * its first path.
 *
 * @param onSkip called with one line per well-known socket skipped (for `--debug`).
 * @returns the runtimes in discovery order, and the sockets present that did not answer
 * @throws {RuntimeUnavailableError|PermissionError} when none answers, worded by
 *   {@linkcode noRuntimeError}.
 */
export async function connectRuntimes(
  options: DiscoveryOptions,
  onSkip: (line: string) => void = () => {},
): Promise<ConnectedRuntimes> {
  const candidates = (await distinctCandidates(endpointCandidates(options), onSkip))
    .map(({ candidate }) => candidate);
  const probedByCandidate = await Promise.all(
    candidates.map((candidate) => probeWithCompanions(candidate, options.timeoutMs)),
  );
  const probed = probedByCandidate.flat();
  const candidateOf = probedByCandidate.flatMap((results, index) =>
    results.map(() => candidates[index]!)
  );
  const runtimes: ConnectedRuntime[] = [];
  const failed: EndpointProbe[] = [];
  for (const [index, { probe, version, error }] of probed.entries()) {
    const candidate = candidateOf[index]!;
    if (!error && version) {
      const client = runtimeKind(version.kind).open(candidate.path, {
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.hostRoot ? { hostRoot: options.hostRoot } : {}),
      }, version);
      runtimes.push({ client, probe });
      continue;
    }
    if (candidate.source === "well-known" || candidate.source === "DOCKER_HOST") {
      onSkip(`skip ${probe.endpoint}: ${probe.status}`);
    }
    if (probe.status !== "missing") failed.push(probe);
  }
  if (runtimes.length === 0) {
    throw noRuntimeError(probed.map((p) => p.probe), options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS);
  }
  return { runtimes, failed };
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
  const only = probes.length === 1 ? probes[0]!.source : undefined;
  const named = only !== undefined && only !== "well-known" && only !== "DOCKER_HOST"
    ? only
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
