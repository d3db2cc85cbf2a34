/**
 * The container runtime: every candidate endpoint (CRI, Docker Engine) probed with its version call, as
 * `crienrich runtimes` does (README "Runtime discovery").
 *
 * @module
 */
import { type EndpointProbe, probeAll, readEndpointSettings } from "../runtime/discovery.ts";
import { ExitCode } from "../errors.ts";
import { type Check, fail, ok, type Outcome } from "./check.ts";

const SOURCE_NAMES: Record<EndpointProbe["source"], string> = {
  flag: "--runtime-endpoint",
  env: "CONTAINER_RUNTIME_ENDPOINT",
  "crictl.yaml": "/etc/crictl.yaml",
  DOCKER_HOST: "DOCKER_HOST",
  "well-known": "the well-known list",
};

const API_NAMES: Record<NonNullable<EndpointProbe["kind"]>, string> = {
  cri: "CRI",
  docker: "Docker Engine API",
  podman: "Podman API",
  containerd: "containerd API",
};

const describe = (p: EndpointProbe) =>
  `${p.runtimeName} ${p.runtimeVersion} (${API_NAMES[p.kind ?? "cri"]} ${
    p.apiVersion ?? p.criApiVersion
  }) at ${p.endpoint}`;

/**
 * Judges the probes: `ok` naming each runtime that answered; else `fail`, exit code 4 when
 * every socket found denied access, 3 otherwise (as `crienrich runtimes`).
 */
export function judgeProbes(probes: readonly EndpointProbe[]): Outcome {
  const answered = probes.filter((p) => p.status === "ok");
  const present = probes.filter((p) => p.status !== "missing");
  const failed = present.filter((p) => p.status !== "ok");
  const others = failed.map((p) => `${p.endpoint} (${p.status})`).join(", ");
  if (answered.length > 0) {
    return ok(`${answered.map(describe).join("; ")}${others ? `; also tried ${others}` : ""}`);
  }
  if (present.length > 0 && present.every((p) => p.status === "permission denied")) {
    return fail(`no runtime answered: ${others}`, "run as root", ExitCode.PermissionDenied);
  }
  const tried = others ||
    (probes.length === 1
      ? `${probes[0]!.endpoint} (missing)`
      : `none of the ${probes.length} well-known sockets exists`);
  const named = probes.length === 1 && probes[0]!.source !== "well-known" &&
    probes[0]!.source !== "DOCKER_HOST";
  return fail(
    `no runtime answered: ${tried}`,
    named
      ? `check the endpoint named by ${SOURCE_NAMES[probes[0]!.source]}, or start the runtime`
      : "start the runtime, or name its socket with --runtime-endpoint or CONTAINER_RUNTIME_ENDPOINT",
    ExitCode.RuntimeUnavailable,
  );
}

/** Check `runtime`: the endpoints crienrich would try (only the one named, if any). */
export const runtimeCheck: Check = {
  name: "runtime",
  async run(options) {
    const settings = await readEndpointSettings(options.runtimeEndpoint, options.hostRoot);
    return judgeProbes(await probeAll({ ...settings, timeoutMs: options.timeoutMs }));
  },
};
