/**
 * The container record: everything crienrich knows about one container, used by `ps`,
 * `inspect` and the tracer's enrichment alike. Its field names are the JSON contract
 * documented in the README ("Container record").
 *
 * @module
 */
import {
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
  /** Restart attempt (CRI metadata.attempt). */
  attempt: number;
  /** Image as the pod spec asked for it (a tag or digest reference). */
  image: string;
  /** Resolved image id on the node (`sha256:...`), "" when the runtime does not say. */
  image_id: string;
  /** Digest reference of the image in use (CRI image_ref), as the runtime gives it. */
  image_ref: string;
  /** Runtime name from CRI Version (e.g. "containerd", "cri-o", "docker"). */
  runtime: string;
  /** CRI endpoint the record came from, `unix:///...`. */
  runtime_endpoint: string;
  pod: PodRecord;
  /** The container's CRI labels, as the runtime returns them. */
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
    & { imageId?: string; podSandboxId?: string };
  /** Its pod sandbox, when known. */
  sandbox?: CriPodSandbox;
  runtimeName: string;
  runtimeEndpoint: string;
  /** Image name and id resolved through ImageStatus when the container carries only an id. */
  resolvedImage?: { name?: string; id?: string };
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
    value = BigInt(ns);
  } catch {
    return "";
  }
  if (value <= 0n) return "";
  const ms = value / 1_000_000n;
  const fraction = (value % 1_000_000_000n).toString().padStart(9, "0");
  return new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

/** Copy of a string map with keys in sorted order, so output is stable run to run. */
function sortedMap(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isImageId(image: string): boolean {
  return /^(sha256:)?[0-9a-f]{64}$/.test(image);
}

/**
 * Builds a record from CRI answers and process facts. Pod fields come from the sandbox when
 * known, else from the kubelet's `io.kubernetes.pod.*` container labels. Pure.
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
  const askedImage = container.image?.userSpecifiedImage || container.image?.image || "";
  const image = isImageId(askedImage) && sources.resolvedImage?.name
    ? sources.resolvedImage.name
    : askedImage;
  const imageId = container.imageId ||
    (isImageId(container.imageRef) ? container.imageRef : "") ||
    (isImageId(askedImage) ? askedImage : "") ||
    sources.resolvedImage?.id || "";
  return {
    id: container.id,
    name: container.metadata?.name || labels[CONTAINER_NAME_LABEL] || "",
    state: STATE_NAMES[container.state] ?? "unknown",
    created: nsToRfc3339(container.createdAt),
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
    labels: sortedMap(labels),
    annotations: sortedMap(annotations),
    pid: process.pid ?? null,
    cgroup_path: process.cgroupPath ?? null,
    cgroup_id: process.cgroupId === undefined ? null : Number(process.cgroupId),
    mntns_id: process.mntnsId === undefined ? null : Number(process.mntnsId),
  };
}
