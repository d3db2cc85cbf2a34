/**
 * Where CRI runtimes listen, and how an operator overrides it.
 *
 * Precedence, highest first, following crictl's conventions so existing settings just work:
 * 1. `--runtime-endpoint` (a `unix://` URL or a plain path);
 * 2. the `CONTAINER_RUNTIME_ENDPOINT` environment variable;
 * 3. `runtime-endpoint:` in `/etc/crictl.yaml` (under `--host-root` when given);
 * 4. the well-known sockets of {@linkcode WELL_KNOWN_ENDPOINTS}, in table order.
 *
 * An endpoint named by 1–3 that fails is an error; a well-known socket that is missing is
 * skipped.
 *
 * @module
 */
import { join, normalize } from "node:path";
import { endpointToSocketPath } from "./cri_client.ts";
import { UsageError } from "../errors.ts";

/** A socket where a CRI runtime commonly listens. */
export interface WellKnownEndpoint {
  /** Absolute socket path on the host (prefixed with `--host-root` when given). */
  readonly path: string;
  /** The runtime usually found there (the `Version` call has the last word). */
  readonly runtime: string;
  /** Who puts a socket there. */
  readonly usedBy: string;
}

/** Well-known CRI sockets, in the order they are tried. */
export const WELL_KNOWN_ENDPOINTS: readonly WellKnownEndpoint[] = [
  // containerd's default: kubeadm clusters, EKS, GKE, AKS.
  { path: "/run/containerd/containerd.sock", runtime: "containerd", usedBy: "containerd" },
  { path: "/var/run/containerd/containerd.sock", runtime: "containerd", usedBy: "containerd" },
  // CRI-O's default: OpenShift, CRI-O based kubeadm nodes.
  { path: "/run/crio/crio.sock", runtime: "cri-o", usedBy: "CRI-O" },
  { path: "/var/run/crio/crio.sock", runtime: "cri-o", usedBy: "CRI-O" },
  // Mirantis cri-dockerd, the CRI shim in front of Docker Engine since dockershim's removal.
  { path: "/run/cri-dockerd.sock", runtime: "docker", usedBy: "cri-dockerd" },
  { path: "/var/run/cri-dockerd.sock", runtime: "docker", usedBy: "cri-dockerd" },
  // k3s and RKE2 run an embedded containerd with its own state directory.
  { path: "/run/k3s/containerd/containerd.sock", runtime: "containerd", usedBy: "k3s, RKE2" },
  // microk8s is a snap: its containerd lives under the snap's common directory.
  {
    path: "/var/snap/microk8s/common/run/containerd.sock",
    runtime: "containerd",
    usedBy: "microk8s",
  },
];

/** Where an endpoint came from. */
export type EndpointSource = "flag" | "env" | "crictl.yaml" | "well-known";

/** A socket to try: its path and why it is tried. */
export interface EndpointCandidate {
  /** Socket path as tried (host-root already applied to well-known paths). */
  path: string;
  source: EndpointSource;
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

const SOURCE_NAMES: Record<Exclude<EndpointSource, "well-known">, string> = {
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
  const override: [string | undefined, Exclude<EndpointSource, "well-known">][] = [
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
  return WELL_KNOWN_ENDPOINTS.map((known) => ({
    path: join(root, known.path),
    source: "well-known",
    usedBy: known.usedBy,
  }));
}

/** What names an override endpoint, for messages: `--runtime-endpoint`, ... */
export function endpointSourceName(source: Exclude<EndpointSource, "well-known">): string {
  return SOURCE_NAMES[source];
}

/** Path of crictl.yaml under a host root. */
export function crictlYamlPath(hostRoot = "/"): string {
  return join(hostRoot, "etc/crictl.yaml");
}
