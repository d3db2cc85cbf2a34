/**
 * Where container runtimes listen (CRI runtimes, the Docker Engine, Podman), and how an
 * operator overrides it.
 *
 * Precedence, highest first, following crictl's conventions so existing settings just work:
 * 1. `--runtime-endpoint` (a `unix://` URL or a plain path);
 * 2. the `CONTAINER_RUNTIME_ENDPOINT` environment variable;
 * 3. `runtime-endpoint:` in `/etc/crictl.yaml` (under `--host-root` when given);
 * 4. the well-known CRI sockets of {@linkcode WELL_KNOWN_ENDPOINTS}, then `DOCKER_HOST`'s socket
 *    (when it names one: `unix:///path`), then the well-known Docker sockets, then Podman's
 *    (rootful, then rootless in `$XDG_RUNTIME_DIR`).
 *
 * An endpoint named by 1–3 that fails is an error; a well-known socket that is missing is
 * skipped.
 *
 * @module
 */
import { join, normalize } from "node:path";
import { endpointToSocketPath } from "./cri_client.ts";
import { UsageError } from "../errors.ts";
import type { RuntimeKind } from "./client.ts";

/** A socket where a runtime commonly listens. */
export interface WellKnownEndpoint {
  /** The API spoken there. */
  readonly kind: RuntimeKind;
  /** Absolute socket path on the host (prefixed with `--host-root` when given). */
  readonly path: string;
  /** The runtime usually found there (the `Version` call has the last word). */
  readonly runtime: string;
  /** Who puts a socket there. */
  readonly usedBy: string;
}

/**
 * Well-known sockets, in the order they are tried: CRI first (a Kubernetes node's runtime
 * knows the pods), then the Docker Engine (a `docker.sock` on a node whose kubelet uses
 * containerd's CRI serves only the node's non-Kubernetes containers), Podman last.
 */
export const WELL_KNOWN_ENDPOINTS: readonly WellKnownEndpoint[] = [
  // containerd's default: kubeadm clusters, EKS, GKE, AKS.
  {
    kind: "cri",
    path: "/run/containerd/containerd.sock",
    runtime: "containerd",
    usedBy: "containerd",
  },
  {
    kind: "cri",
    path: "/var/run/containerd/containerd.sock",
    runtime: "containerd",
    usedBy: "containerd",
  },
  // CRI-O's default: OpenShift, CRI-O based kubeadm nodes.
  { kind: "cri", path: "/run/crio/crio.sock", runtime: "cri-o", usedBy: "CRI-O" },
  { kind: "cri", path: "/var/run/crio/crio.sock", runtime: "cri-o", usedBy: "CRI-O" },
  // Mirantis cri-dockerd, the CRI shim in front of Docker Engine since dockershim's removal.
  { kind: "cri", path: "/run/cri-dockerd.sock", runtime: "docker", usedBy: "cri-dockerd" },
  { kind: "cri", path: "/var/run/cri-dockerd.sock", runtime: "docker", usedBy: "cri-dockerd" },
  // k3s and RKE2 run an embedded containerd with its own state directory.
  {
    kind: "cri",
    path: "/run/k3s/containerd/containerd.sock",
    runtime: "containerd",
    usedBy: "k3s, RKE2",
  },
  // microk8s is a snap: its containerd lives under the snap's common directory.
  {
    kind: "cri",
    path: "/var/snap/microk8s/common/run/containerd.sock",
    runtime: "containerd",
    usedBy: "microk8s",
  },
  // Docker Engine's API socket (dockerd's -H default; Docker Desktop and rootful Podman's
  // compat service may also listen here). /var/run is a link to /run on current distributions.
  { kind: "docker", path: "/run/docker.sock", runtime: "docker", usedBy: "Docker Engine" },
  { kind: "docker", path: "/var/run/docker.sock", runtime: "docker", usedBy: "Docker Engine" },
  // Rootful Podman's API service (`podman system service`, systemd's podman.socket); the
  // rootless one's, `$XDG_RUNTIME_DIR/podman/podman.sock`, follows from the environment.
  { kind: "podman", path: "/run/podman/podman.sock", runtime: "podman", usedBy: "Podman" },
  { kind: "podman", path: "/var/run/podman/podman.sock", runtime: "podman", usedBy: "Podman" },
];

/** Where an endpoint came from. */
export type EndpointSource = "flag" | "env" | "crictl.yaml" | "DOCKER_HOST" | "well-known";

/** A socket to try: its path and why it is tried. */
export interface EndpointCandidate {
  /** Socket path as tried (host-root already applied to well-known paths). */
  path: string;
  source: EndpointSource;
  /** The API spoken there, when known (well-known, DOCKER_HOST); undefined: try each. */
  kind?: RuntimeKind;
  /** For well-known sockets, who usually listens there. */
  usedBy?: string;
}

/** Inputs of {@linkcode endpointCandidates}. */
export interface EndpointSettings {
  /** `--runtime-endpoint` value. */
  flag?: string;
  /** `CONTAINER_RUNTIME_ENDPOINT` value. */
  env?: string;
  /** Text of crictl.yaml, when the file exists. */
  crictlYaml?: string;
  /** `DOCKER_HOST` value (the Docker CLI's daemon address). */
  dockerHost?: string;
  /** `XDG_RUNTIME_DIR` value: rootless Podman's socket is `podman/podman.sock` in it. */
  xdgRuntimeDir?: string;
  /** `--host-root`: prefix of every well-known path. Default "/". */
  hostRoot?: string;
}

/**
 * Reads `runtime-endpoint` from crictl.yaml text (crictl's `/etc/crictl.yaml`: flat
 * `key: value` lines). Returns undefined when the key is absent or empty.
 */
export function crictlRuntimeEndpoint(yamlText: string): string | undefined {
  for (const line of yamlText.split("\n")) {
    const match = /^runtime-endpoint\s*:\s*(.*?)\s*$/.exec(line);
    if (match) {
      // A YAML comment starts at "#" after whitespace, or at the value's start (`key: # x`).
      const value = match[1]!.replace(/(^|\s+)#.*$/, "").replace(/^(["'])(.*)\1$/, "$2");
      return value || undefined;
    }
  }
  return undefined;
}

/**
 * The socket path an endpoint names: `unix:///path` or `/path`.
 *
 * @param endpoint the endpoint as the operator wrote it
 * @param what where it came from, for the message (`--runtime-endpoint`, ...)
 * @throws {UsageError} when it is empty, not a unix endpoint, or names no socket path
 *   (`unix://`, `/`, a path ending in `/`).
 * @example runtimeEndpointPath("unix:///run/containerd/containerd.sock", "--runtime-endpoint")
 *   // "/run/containerd/containerd.sock"
 */
export function runtimeEndpointPath(endpoint: string, what: string): string {
  if (endpoint.trim() === "") {
    throw new UsageError(`Invalid ${what} "${endpoint}": expected unix:///path or /path`);
  }
  const path = endpointToSocketPath(endpoint);
  if (path.endsWith("/") || normalize(path) === "/") {
    throw new UsageError(
      `Invalid ${what} "${endpoint}": names no socket path, expected unix:///path or /path`,
    );
  }
  return path;
}

const SOURCE_NAMES: Record<Exclude<EndpointSource, "well-known" | "DOCKER_HOST">, string> = {
  flag: "--runtime-endpoint",
  env: "CONTAINER_RUNTIME_ENDPOINT",
  "crictl.yaml": "runtime-endpoint in crictl.yaml",
};

/**
 * The sockets to try, in order. When an override (flag, env or crictl.yaml) is set it is the
 * only candidate: an operator who names a runtime means that one. An empty flag is an error,
 * never "unset" (an empty `CONTAINER_RUNTIME_ENDPOINT` is unset, as for crictl).
 *
 * @throws {UsageError} when the override is not a unix endpoint naming a socket path.
 */
export function endpointCandidates(settings: EndpointSettings): EndpointCandidate[] {
  const override: [string | undefined, Exclude<EndpointSource, "well-known" | "DOCKER_HOST">][] = [
    [settings.flag, "flag"],
    [settings.env || undefined, "env"],
    [settings.crictlYaml ? crictlRuntimeEndpoint(settings.crictlYaml) : undefined, "crictl.yaml"],
  ];
  for (const [endpoint, source] of override) {
    if (endpoint !== undefined) {
      return [{ path: runtimeEndpointPath(endpoint, SOURCE_NAMES[source]), source }];
    }
  }
  const root = settings.hostRoot ?? "/";
  const known = (kind: RuntimeKind): EndpointCandidate[] =>
    WELL_KNOWN_ENDPOINTS.filter((e) => e.kind === kind).map((e) => ({
      path: join(root, e.path),
      source: "well-known",
      kind: e.kind,
      usedBy: e.usedBy,
    }));
  const dockerHost = dockerHostPath(settings.dockerHost);
  return [
    ...known("cri"),
    ...(dockerHost
      ? [{ path: dockerHost, source: "DOCKER_HOST" as const, kind: "docker" as const }]
      : []),
    ...known("docker"),
    ...known("podman"),
    ...rootlessPodman(settings.xdgRuntimeDir),
  ];
}

/**
 * Rootless Podman's socket, `$XDG_RUNTIME_DIR/podman/podman.sock`, when the variable holds
 * an absolute path; never prefixed with `--host-root` (the variable is the caller's).
 */
function rootlessPodman(xdgRuntimeDir: string | undefined): EndpointCandidate[] {
  if (!xdgRuntimeDir?.startsWith("/")) return [];
  return [{
    path: join(xdgRuntimeDir, "podman/podman.sock"),
    source: "well-known",
    kind: "podman",
    usedBy: "Podman (rootless)",
  }];
}

/**
 * The socket path `DOCKER_HOST` names, when it names a unix socket (`unix:///path`); else
 * undefined: a `tcp://` or `ssh://` daemon is another machine's, whose pids and cgroups are
 * not this host's. It is never prefixed with `--host-root` (the variable is the caller's,
 * like `CONTAINER_RUNTIME_ENDPOINT`).
 * @example dockerHostPath("unix:///run/user/1000/docker.sock") // "/run/user/1000/docker.sock"
 */
export function dockerHostPath(dockerHost: string | undefined): string | undefined {
  const match = /^unix:\/\/(\/.*[^/])$/.exec(dockerHost ?? "");
  return match?.[1];
}

/** What names an override endpoint, for messages: `--runtime-endpoint`, ... */
export function endpointSourceName(
  source: Exclude<EndpointSource, "well-known" | "DOCKER_HOST">,
): string {
  return SOURCE_NAMES[source];
}

/** Path of crictl.yaml under a host root. */
export function crictlYamlPath(hostRoot = "/"): string {
  return join(hostRoot, "etc/crictl.yaml");
}
