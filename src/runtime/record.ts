/**
 * The container record: everything crienrich knows about one container, used by `ps`,
 * `inspect` and the tracer's enrichment alike. Its field names are the JSON contract
 * documented in the README ("Container record").
 *
 * @module
 */
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  CONTAINER_NAME_LABEL,
  KUBELET_BOOKKEEPING_ANNOTATIONS,
  POD_IDENTITY_LABELS,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from "./labels.ts";
import type { CriContainer, CriContainerState, CriPodSandbox } from "./cri_types.ts";

/** The pod a container belongs to. */
export interface PodRecord {
  /** CRI pod sandbox id; "" when the sandbox is unknown (cri-dockerd may hide it). */
  sandbox_id: string;
  name: string;
  namespace: string;
  uid: string;
  /** The pod's own labels (kubelet's io.kubernetes.pod.* identity keys removed). */
  labels: Record<string, string>;
}

/**
 * The Docker Compose project and service a container belongs to, read from the labels
 * Compose puts on every container it creates (`com.docker.compose.project`,
 * `com.docker.compose.service`; podman-compose and nerdctl compose set the same keys).
 */
export interface ComposeRecord {
  /** Compose project name (`docker compose -p`, else the directory's name). */
  project: string;
  /** Service name from the compose file; "" when the label is missing. */
  service: string;
}

/** Container state, lower-case CRI state without the prefix. */
export type ContainerStateName = "created" | "running" | "exited" | "unknown";

/**
 * One container. Snake-case names because the object is printed as is (`ps -o json`,
 * `inspect`, and the `container`/`pod` parts of trace events).
 */
export interface ContainerRecord {
  /** Full container id (64 hex for every runtime here). */
  id: string;
  /** Container name from the pod spec. */
  name: string;
  state: ContainerStateName;
  /** Creation time, RFC 3339 with ns precision, UTC. */
  created: string;
  /** Start time of the current or last run, RFC 3339 with ns precision, UTC; "" when never started. */
  started: string;
  /** Restart attempt (CRI metadata.attempt). */
  attempt: number;
  /**
   * Image as the pod spec asked for it: the first of CRI `ImageSpec.user_specified_image`
   * (the kubelet sends it since Kubernetes 1.28; runtimes that keep it return it), the image
   * `ListContainers` gives (what CreateContainer was asked for, verbatim, an image id
   * included), the image `ContainerStatus` gives. Never a name looked up from the image id:
   * containerd 1.6's ContainerStatus answers with the image's first tag in sort order, not
   * the name asked for. A kubelet resolves the pod spec's name to the image id before
   * CreateContainer, so on a runtime that drops user_specified_image (containerd 1.6) this
   * is the image id `sha256:...`.
   */
  image: string;
  /**
   * Image id on the node, `sha256:<64 hex>`: CRI `image_id` when the runtime fills it, else
   * `image_ref` or the requested image when either is an id, else the id ImageStatus gives,
   * else the digest of `image_ref` (`repo@sha256:...` → `sha256:...`). Scheme prefixes such
   * as cri-dockerd's `docker-pullable://` and `docker://` are stripped, a bare 64-hex id
   * (CRI-O) gains `sha256:`. "" when none of these says.
   */
  image_id: string;
  /** Digest reference of the image in use (CRI image_ref), as the runtime gives it. */
  image_ref: string;
  /**
   * Runtime name: from CRI Version for CRI runtimes (e.g. "containerd", "cri-o", "docker"
   * for cri-dockerd), "docker" for the Docker Engine API.
   */
  runtime: string;
  /** Endpoint the record came from, `unix:///...` (a CRI or Docker Engine API socket). */
  runtime_endpoint: string;
  /**
   * The container's pod; null for a container outside any pod (`docker run`, compose). CRI
   * containers always have one; Docker Engine containers have one when the kubelet's
   * `io.kubernetes.pod.*` labels say so (cri-dockerd).
   */
  pod: PodRecord | null;
  /**
   * The containerd namespace of a container listed by containerd's own API (`default`, a
   * nerdctl or buildkit namespace); absent from the records of every other API.
   */
  containerd_namespace?: string;
  /**
   * The Compose project and service from the container's `com.docker.compose.*` labels;
   * null when it has no project label (not created by Compose).
   */
  compose: ComposeRecord | null;
  /** The container's labels, as the runtime returns them. */
  labels: Record<string, string>;
  /** Container annotations, without the kubelet's bookkeeping ones. */
  annotations: Record<string, string>;
  /** Host pid of the container's init process; null when not running. */
  pid: number | null;
  /** Cgroup path below the cgroup root (v2 tree on v2/hybrid nodes); null when unknown. */
  cgroup_path: string | null;
  /** Cgroup id = inode of the cgroup's v2 directory (bpf_get_current_cgroup_id()); null on v1-only nodes or when gone. */
  cgroup_id: number | null;
  /** Mount namespace id = inode of /proc/<pid>/ns/mnt; null when not running. */
  mntns_id: number | null;
}

/** Process facts gathered outside the CRI (from verbose info and /proc). */
export interface ContainerProcessFacts {
  pid?: number;
  cgroupPath?: string;
  cgroupId?: bigint;
  mntnsId?: bigint;
}

/** Inputs of {@linkcode buildContainerRecord}. */
export interface RecordSources {
  /** The container as ListContainers or ContainerStatus gave it (status preferred). */
  container:
    & Pick<
      CriContainer,
      "id" | "metadata" | "image" | "imageRef" | "state" | "createdAt" | "labels" | "annotations"
    >
    & { imageId?: string; podSandboxId?: string; startedAt?: string };
  /**
   * Image fields of the same container as ListContainers gave them, when `container` is its
   * ContainerStatus: the list's image is the one CreateContainer was asked for.
   */
  listed?: Pick<CriContainer, "image"> & { imageId?: string };
  /** Its pod sandbox, when known. */
  sandbox?: CriPodSandbox;
  runtimeName: string;
  runtimeEndpoint: string;
  /**
   * Image id ImageStatus gave, looked up only when {@linkcode imageIdOfContainer} finds none
   * (containerd 1.6, an image with a repo digest, created by name: image_ref is then
   * `repo@sha256:<manifest digest>`, not the id).
   */
  resolvedImageId?: string;
  process?: ContainerProcessFacts;
}

const STATE_NAMES: Record<CriContainerState, ContainerStateName> = {
  CONTAINER_CREATED: "created",
  CONTAINER_RUNNING: "running",
  CONTAINER_EXITED: "exited",
  CONTAINER_UNKNOWN: "unknown",
};

/**
 * Converts CRI nanoseconds since the epoch (a decimal string) to RFC 3339 with 9 fractional
 * digits in UTC, e.g. "2026-11-29T22:33:41.551934264Z". "" for 0 or garbage.
 */
export function nsToRfc3339(ns: string | bigint): string {
  let value: bigint;
  try {
    value = typeof ns === "bigint" ? ns : BigInt(ns);
  } catch {
    return "";
  }
  if (value <= 0n) return "";
  const seconds = value / 1_000_000_000n;
  const fraction = String(value - seconds * 1_000_000_000n).padStart(9, "0");
  // Every trace event is formatted here: the date part is built once per second, not per
  // event (Date and toISOString were a sixth of the per-event cost, bench/pipeline_bench.ts).
  if (seconds !== lastSecond) {
    lastPrefix = new Date(Number(seconds) * 1000).toISOString().slice(0, -4);
    lastSecond = seconds;
  }
  return `${lastPrefix}${fraction}Z`;
}

/** The second {@linkcode nsToRfc3339} formatted last, and its "YYYY-MM-DDTHH:MM:SS." text. */
let lastSecond = -1n;
let lastPrefix = "";

/** Copy of a string map with keys in sorted order, so output is stable run to run. */
function sortedMap(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Removes a scheme prefix from an image reference: cri-dockerd's `docker-pullable://`
 * (a digest reference) and `docker://` (an image id), and any other `<scheme>://`.
 *
 * @example stripImageScheme("docker://sha256:4585...") // "sha256:4585..."
 */
export function stripImageScheme(ref: string): string {
  return ref.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
}

/**
 * The image id in `ref`, as `sha256:<64 hex>`, when `ref` (scheme prefix stripped) is an
 * image id: `sha256:<64 hex>` or a bare 64-hex id (CRI-O). Else undefined: names and digest
 * references are not ids.
 *
 * @example imageIdOf("docker://sha256:4585...") // "sha256:4585..."
 * @example imageIdOf("busybox:1") // undefined
 */
export function imageIdOf(ref: string): string | undefined {
  const match = /^(?:sha256:)?([0-9a-f]{64})$/.exec(stripImageScheme(ref));
  return match ? `sha256:${match[1]}` : undefined;
}

/**
 * The image id of a container from its CRI fields alone (no ImageStatus): the first that is
 * an id of CRI `image_id` (status, then list), `image_ref`, the requested image, the list's
 * and the status's image. Undefined when none is: the caller may then ask ImageStatus.
 */
export function imageIdOfContainer(
  container: Pick<RecordSources["container"], "image" | "imageRef" | "imageId">,
  listed?: RecordSources["listed"],
): string | undefined {
  const candidates = [
    container.imageId,
    listed?.imageId,
    container.imageRef,
    requestedImage(container, listed),
    listed?.image?.image,
    container.image?.image,
  ];
  for (const candidate of candidates) {
    const id = imageIdOf(candidate ?? "");
    if (id) return id;
  }
  return undefined;
}

/**
 * The image the pod spec asked for (see {@linkcode ContainerRecord.image}):
 * user_specified_image, else the image ListContainers gives, else the status's image.
 */
export function requestedImage(
  container: Pick<RecordSources["container"], "image">,
  listed?: RecordSources["listed"],
): string {
  return container.image?.userSpecifiedImage || listed?.image?.userSpecifiedImage ||
    listed?.image?.image || container.image?.image || "";
}

/** The `sha256:...` digest of a digest reference (`repo@sha256:<64 hex>`), else undefined. */
function digestOf(ref: string): string | undefined {
  return /@(sha256:[0-9a-f]{64})$/.exec(stripImageScheme(ref))?.[1];
}

/**
 * The Compose project and service a container's labels name; null without a
 * `com.docker.compose.project` label (an empty one included: Compose never sets it empty).
 * Pure.
 *
 * @example composeOf({ "com.docker.compose.project": "shop",
 *   "com.docker.compose.service": "web" }) // { project: "shop", service: "web" }
 * @example composeOf({ app: "web" }) // null
 */
export function composeOf(labels: Readonly<Record<string, string>>): ComposeRecord | null {
  const project = labels[COMPOSE_PROJECT_LABEL];
  if (!project) return null;
  return { project, service: labels[COMPOSE_SERVICE_LABEL] ?? "" };
}

/**
 * The pod of a pod sandbox: name, namespace and uid from its metadata (else the kubelet's
 * `io.kubernetes.pod.*` labels), its own labels without those identity keys. Pure.
 */
export function podRecordOfSandbox(sandbox: CriPodSandbox): PodRecord {
  const labels = sandbox.labels ?? {};
  return {
    sandbox_id: sandbox.id,
    name: sandbox.metadata?.name || labels[POD_NAME_LABEL] || "",
    namespace: sandbox.metadata?.namespace || labels[POD_NAMESPACE_LABEL] || "",
    uid: sandbox.metadata?.uid || labels[POD_UID_LABEL] || "",
    labels: sortedMap(
      Object.fromEntries(
        Object.entries(labels).filter(([key]) => !POD_IDENTITY_LABELS.includes(key)),
      ),
    ),
  };
}

/**
 * Builds a record from CRI answers and process facts. Pod fields come from the sandbox when
 * known, else from the kubelet's `io.kubernetes.pod.*` container labels. `image` and
 * `image_id` follow the rules documented on {@linkcode ContainerRecord}. Pure.
 */
export function buildContainerRecord(sources: RecordSources): ContainerRecord {
  const { container, sandbox, process = {} } = sources;
  const labels = { ...container.labels };
  const sandboxLabels = sandbox?.labels ?? {};
  const podLabels = Object.fromEntries(
    Object.entries(sandboxLabels).filter(([key]) => !POD_IDENTITY_LABELS.includes(key)),
  );
  const annotations = Object.fromEntries(
    Object.entries(container.annotations ?? {}).filter(([key]) =>
      !KUBELET_BOOKKEEPING_ANNOTATIONS.includes(key)
    ),
  );
  const image = requestedImage(container, sources.listed);
  const imageId = imageIdOfContainer(container, sources.listed) ??
    imageIdOf(sources.resolvedImageId ?? "") ?? digestOf(container.imageRef) ?? "";
  return {
    id: container.id,
    name: container.metadata?.name || labels[CONTAINER_NAME_LABEL] || "",
    state: STATE_NAMES[container.state] ?? "unknown",
    created: nsToRfc3339(container.createdAt),
    started: nsToRfc3339(container.startedAt ?? "0"),
    attempt: container.metadata?.attempt ?? 0,
    image,
    image_id: imageId,
    image_ref: container.imageRef,
    runtime: sources.runtimeName,
    runtime_endpoint: sources.runtimeEndpoint,
    pod: {
      sandbox_id: sandbox?.id ?? container.podSandboxId ?? "",
      name: sandbox?.metadata?.name || labels[POD_NAME_LABEL] || "",
      namespace: sandbox?.metadata?.namespace || labels[POD_NAMESPACE_LABEL] || "",
      uid: sandbox?.metadata?.uid || labels[POD_UID_LABEL] || "",
      labels: sortedMap(podLabels),
    },
    compose: composeOf(labels),
    labels: sortedMap(labels),
    annotations: sortedMap(annotations),
    pid: process.pid ?? null,
    cgroup_path: process.cgroupPath ?? null,
    cgroup_id: process.cgroupId === undefined ? null : Number(process.cgroupId),
    mntns_id: process.mntnsId === undefined ? null : Number(process.mntnsId),
  };
}

/**
 * A container's name for one-line messages: `namespace/pod/name`, or the name alone for a
 * container outside any pod.
 * @example describeRecord({ name: "web", pod: null, ... }) // "web"
 */
export function describeRecord(record: Pick<ContainerRecord, "name" | "pod">): string {
  return record.pod ? `${record.pod.namespace}/${record.pod.name}/${record.name}` : record.name;
}
