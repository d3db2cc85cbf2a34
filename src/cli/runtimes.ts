/**
 * `crienrich runtimes`: every candidate endpoint tried (CRI, Docker Engine, Podman,
 * containerd's own API), each socket once, with its status, API kind, runtime name, version
 * and API version.
 *
 * @module
 */
import {
  type EndpointProbe,
  noRuntimeError,
  probeAll,
  readEndpointSettings,
} from "../runtime/discovery.ts";
import { type Column, describeColumns, renderTable } from "../output/table.ts";
import { GLOBAL_HELP, parseCommandArgs, parseOutputFormat } from "./options.ts";
import { ExitCode } from "../errors.ts";
import type { CommandIO } from "./io.ts";

const COLUMNS: readonly Column<EndpointProbe>[] = [
  { header: "ENDPOINT", description: "socket tried", value: (p) => p.endpoint },
  { header: "SOURCE", description: "flag, env, crictl.yaml or well-known", value: (p) => p.source },
  {
    header: "STATUS",
    description:
      "ok, missing, not a socket, refused, no answer, not CRI, not Docker, not Podman, not containerd, unknown API, permission denied",
    value: (p) => p.status,
  },
  {
    header: "KIND",
    description: "API spoken there: cri, docker, podman or containerd",
    value: (p) => p.kind ?? "",
  },
  {
    header: "RUNTIME",
    description: "runtime name from CRI Version, docker, podman or containerd",
    value: (p) => p.runtimeName ?? "",
  },
  { header: "VERSION", description: "runtime version", value: (p) => p.runtimeVersion ?? "" },
  {
    header: "API",
    description:
      "API version: CRI's (v1), the negotiated Docker Engine API's (1.41), Podman's libpod API's (4.3.1), containerd's (v1)",
    value: (p) => p.apiVersion ?? "",
  },
  { header: "USED BY", description: "who usually listens there", value: (p) => p.usedBy ?? "" },
];

const HELP = `Usage: crienrich runtimes [-o table|json]

Tries every candidate endpoint (or only the one named by --runtime-endpoint,
CONTAINER_RUNTIME_ENDPOINT or /etc/crictl.yaml) and reports each: the CRI sockets with a CRI
Version call, DOCKER_HOST's and the Docker sockets with the Docker Engine API's GET /version,
the Podman sockets with Podman's API (GET /version), and a containerd socket that answers
CRI in containerd's own API too (one row per API); a named socket in every API. A socket
reachable by several paths (/run/docker.sock and /var/run/docker.sock) is one row, under
its first path, with the others in JSON's also_at.
Exit code 0 when at least one answers, 4 when every socket found denies access, 3 otherwise
(then one line on stderr names each socket tried).

Columns:
${describeColumns(COLUMNS)}

JSON (-o json): one object per endpoint with endpoint, source, used_by, status, reason,
kind, runtime_name, runtime_version, api_version, cri_api_version (null but for CRI),
also_at (the socket's other paths, [] when none).

${GLOBAL_HELP}`;

/**
 * Runs `crienrich runtimes`: prints every probe, then returns 0 when one answered.
 * @throws {UsageError} on bad flags
 * @throws {PermissionError} when every socket found denies access (after printing)
 * @throws {RuntimeUnavailableError} when none answered (after printing), worded as
 *   every command words it (`noRuntimeError`)
 */
export async function runRuntimes(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, global } = parseCommandArgs("runtimes", args, {
    output: { type: "string", short: "o" },
  });
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  const format = parseOutputFormat(values.output, ["table", "json"] as const, "table");
  const settings = await readEndpointSettings(global.runtimeEndpoint, global.hostRoot);
  const probes = await probeAll({ ...settings, timeoutMs: global.timeoutMs });
  if (format === "json") {
    for (const p of probes) {
      io.out.writeJson({
        endpoint: p.endpoint,
        source: p.source,
        used_by: p.usedBy ?? null,
        status: p.status,
        reason: p.reason ?? null,
        kind: p.kind ?? null,
        runtime_name: p.runtimeName ?? null,
        runtime_version: p.runtimeVersion ?? null,
        api_version: p.apiVersion ?? null,
        cri_api_version: p.criApiVersion ?? null,
        also_at: p.alsoAt ?? [],
      });
    }
  } else {
    for (const line of renderTable(COLUMNS, probes)) io.out.writeLine(line);
  }
  if (probes.some((p) => p.status === "ok")) return ExitCode.Ok;
  // The same line as ps, inspect and trace print when no runtime answers.
  throw noRuntimeError(probes, global.timeoutMs);
}
