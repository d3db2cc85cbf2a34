/**
 * The container runtime: every candidate endpoint (CRI, Docker Engine, Podman) probed with its
 * version call, as `crienrich runtimes` does (README "Runtime discovery"); the check names
 * every runtime found, since `ps` and `trace` use every one that answers.
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

/**
 * One answering runtime: name, version, kind (the API it answered in, as `runtimes`' KIND
 * column) and API version, e.g.
 * `docker 20.10.24+dfsg1 (kind docker, API 1.41) at unix:///run/docker.sock`.
 */
const describe = (p: EndpointProbe) =>
  `${p.runtimeName || "unknown"} ${p.runtimeVersion || "?"} (kind ${p.kind ?? "cri"}, API ${
    p.apiVersion ?? p.criApiVersion ?? "?"
  }) at ${p.endpoint}`;

/**
 * Judges the probes: `ok` when at least one runtime answered, naming every one that did
 * (kind, version, API version) and every socket found that did not, with its status; else
 * `fail`, exit code 4 when every socket found denied access, 3 otherwise (as
 * `crienrich runtimes`). Missing well-known sockets are not named: they are no runtime found.
 *
 * @example judgeProbes([containerd ok, docker ok, podman "no answer"]).detail
 * // "2 runtimes answered: containerd 1.6.20~ds1 (kind cri, API v1) at unix:///run/c.sock;
 * //  docker 20.10.24+dfsg1 (kind docker, API 1.41) at unix:///run/docker.sock;
 * //  did not answer: unix:///run/podman/podman.sock (no answer)" (one line)
 */
export function judgeProbes(probes: readonly EndpointProbe[]): Outcome {
  const answered = probes.filter((p) => p.status === "ok");
  const present = probes.filter((p) => p.status !== "missing");
  const failed = present.filter((p) => p.status !== "ok");
  const others = failed.map((p) => `${p.endpoint} (${p.status})`).join(", ");
  if (answered.length > 0) {
    const count = answered.length > 1 ? `${answered.length} runtimes answered: ` : "";
    const silent = others ? `; did not answer: ${others}` : "";
    return ok(`${count}${answered.map(describe).join("; ")}${silent}`);
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
