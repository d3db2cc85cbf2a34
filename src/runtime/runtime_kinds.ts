/**
 * The factory: one row per runtime API, the only place that tells runtime kinds apart.
 * Discovery probes a socket through its row and opens the {@linkcode RuntimeClient} the row
 * makes; everything above (`ps`, `inspect`, the tracer's enrichment) sees the interface only.
 * Adding a runtime API is adding its module and one row here (and its sockets in
 * `endpoints.ts`).
 *
 * @module
 */
import type { RuntimeClient, RuntimeKind, RuntimeVersion } from "./client.ts";
import { CriRuntimeClient } from "./cri_runtime.ts";
import { DockerClient } from "./docker_client.ts";
import type { CgroupCandidate } from "./cgroup.ts";
import { PodmanClient } from "./podman_client.ts";
import { ContainerdClient } from "./containerd_client.ts";
import { CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE } from "./containerd_record.ts";

/** How clients of a kind are opened. */
export interface ClientOptions {
  /** Deadline of each call, in milliseconds. */
  timeoutMs?: number;
  /** `--host-root`: where the host's `/` is mounted. Default `/`. */
  hostRoot?: string;
}

/** One runtime API. */
export interface RuntimeKindEntry {
  readonly kind: RuntimeKind;
  /** The API's name in messages. */
  readonly api: string;
  /** Probe status of a socket that answers, but not this API. */
  readonly mismatch: "not CRI" | "not Docker" | "not Podman" | "not containerd";
  /**
   * Opens a client on `socketPath`; `version` is what the socket's probe said (a CRI
   * runtime's records carry its name).
   */
  open(socketPath: string, options: ClientOptions, version?: RuntimeVersion): RuntimeClient;
  /**
   * Whether a container whose cgroup shows `ref` is this API's to answer when several
   * runtimes list it (`runtime_set.ts`, README "Several runtimes on one node"). Kinds
   * without it claim nothing: such containers go to the first runtime in discovery order.
   * @param ref the container the path names, with its segment's index in `segments`
   * @param segments the path's cgroup names, outermost first
   */
  owns?(ref: CgroupCandidate, segments: readonly string[]): boolean;
  /**
   * Whether a socket that answered another kind's probe as `version` serves this kind too,
   * so that discovery opens both (containerd's own API beside its CRI, on one socket).
   */
  besides?(version: RuntimeVersion): boolean;
}

/**
 * A containerd namespace name (containerd `pkg/identifiers`: alphanumerics joined by single
 * `.`, `_` or `-`, at most 76 characters).
 */
const CONTAINERD_NAMESPACE_NAME = /^(?=.{1,76}$)[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** Every runtime API crienrich speaks, in the order a socket of unknown kind is tried. */
export const RUNTIME_KINDS: readonly RuntimeKindEntry[] = [
  {
    kind: "cri",
    api: "CRI",
    mismatch: "not CRI",
    open: (socketPath, options, version) =>
      new CriRuntimeClient(socketPath, { ...options, runtimeName: version?.name || "unknown" }),
    // A kubelet's pod cgroup (whoever made the container: cri-dockerd's are Docker's too),
    // or containerd's and CRI-O's own layouts.
    owns: (ref) =>
      ref.podUid !== undefined || ref.runtime === "containerd" || ref.runtime === "cri-o",
  },
  {
    kind: "docker",
    api: "Docker Engine API",
    mismatch: "not Docker",
    open: (socketPath, options) => new DockerClient(socketPath, options),
    // dockerd's own layouts outside any pod: `/docker/<id>`, `docker-<id>.scope`.
    owns: (ref) => ref.podUid === undefined && ref.runtime === "docker",
  },
  {
    kind: "podman",
    api: "Podman API",
    mismatch: "not Podman",
    open: (socketPath, options) => new PodmanClient(socketPath, options),
    // Podman's own layouts: `/libpod_parent/libpod-<id>`, `libpod-<id>.scope`.
    owns: (ref) => ref.podUid === undefined && ref.runtime === "podman",
  },
  {
    kind: "containerd",
    api: "containerd API",
    mismatch: "not containerd",
    open: (socketPath, options) => new ContainerdClient(socketPath, options),
    // containerd's default parent outside Kubernetes: `/<namespace>/<id>` (its default OCI
    // spec's cgroupsPath, containerd `oci/spec.go`), for namespaces no other API answers.
    owns: (ref, segments) => {
      const namespace = segments[0] ?? "";
      return ref.runtime === "unknown" && ref.podUid === undefined && ref.segmentIndex === 1 &&
        CONTAINERD_NAMESPACE_NAME.test(namespace) && namespace !== "kubepods" &&
        !CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE.includes(namespace);
    },
    // A containerd socket that answers CRI answers containerd's own API too.
    besides: (version) => version.kind === "cri" && version.name === "containerd",
  },
];

/** The row of `kind`. */
export function runtimeKind(kind: RuntimeKind): RuntimeKindEntry {
  return RUNTIME_KINDS.find((entry) => entry.kind === kind)!;
}

/**
 * Asks the runtime at `socketPath` what it is, through the API of `kind`, with a deadline.
 * @throws {RuntimeUnavailableError|PermissionError} as the kind's client words it.
 */
export async function probeKind(
  kind: RuntimeKind,
  socketPath: string,
  options: ClientOptions,
): Promise<RuntimeVersion> {
  using client = runtimeKind(kind).open(socketPath, options);
  return await client.version();
}
