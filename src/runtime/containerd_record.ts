/**
 * The mapping of containerd's own API answers (Containers/List, Tasks/List) to the shared
 * container record. Pure: the client (`containerd_client.ts`) does the calls and reads the
 * process facts.
 *
 * @module
 */
import type { ContainerProcessFacts, ContainerRecord, ContainerStateName } from "./record.ts";
import { composeOf, nsToRfc3339 } from "./record.ts";
import { objectField, stringField, stringMapField } from "./json_shape.ts";
import {
  CONTAINERD_CRI_KIND_LABEL,
  CONTAINERD_CRI_SANDBOX_KIND,
  NERDCTL_NAME_LABEL,
} from "./labels.ts";

/**
 * containerd namespaces whose containers another API answers, so containerd's own API
 * leaves them out: `k8s.io` is the CRI plugin's (containerd `pkg/cri/constants`
 * `K8sContainerdNamespace`; its pods are listed through CRI, with their pod), `moby` is
 * dockerd's (its `docker run` containers are listed through the Docker Engine API, with their
 * names).
 */
export const CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE: readonly string[] = ["k8s.io", "moby"];

/** A protobuf Timestamp as proto-loader gives it (`longs: String`). */
export interface ContainerdTimestamp {
  seconds?: string;
  nanos?: number;
}

/** `containerd.services.containers.v1.Container`, the fields we read. */
export interface ContainerdContainer {
  id: string;
  labels?: Record<string, string>;
  image?: string;
  runtime?: { name?: string } | null;
  /** google.protobuf.Any: the OCI runtime spec as JSON bytes. */
  spec?: { typeUrl?: string; value?: Uint8Array } | null;
  createdAt?: ContainerdTimestamp | null;
  sandbox?: string;
}

/** containerd's task status (`containerd.v1.types.Status`). */
export type ContainerdTaskStatus =
  | "UNKNOWN"
  | "CREATED"
  | "RUNNING"
  | "STOPPED"
  | "PAUSED"
  | "PAUSING";

/** A task's init process (`containerd.v1.types.Process`), the fields we read. */
export interface ContainerdTask {
  /** The container's id; containerd 1.6's Tasks/List leaves it empty and sets `id`. */
  containerId: string;
  /** The exec id, empty for the init process; Tasks/List (1.6) puts the container id here. */
  id?: string;
  pid?: number;
  status?: ContainerdTaskStatus;
  exitStatus?: number;
  exitedAt?: ContainerdTimestamp | null;
}

/** The parts of the OCI runtime spec we read (opencontainers/runtime-spec `config.md`). */
export interface OciSpecSubset {
  annotations?: Record<string, string>;
  linux?: { cgroupsPath?: string };
}

/**
 * Decodes the OCI runtime spec a container's `spec` Any holds: containerd stores it as JSON
 * (type `types.containerd.io/opencontainers/runtime-spec/1/Spec`). Protobuf decoding types
 * the Any, not the JSON inside it: each field is read by `json_shape.ts`'s readers, a field
 * of the wrong type dropped (`annotations: null`, `linux.cgroupsPath: 5`), annotation values
 * that are not strings too.
 * @returns the spec, or `{}` when absent or not JSON (never throws: the spec only adds facts)
 */
export function decodeOciSpec(spec: ContainerdContainer["spec"]): OciSpecSubset {
  if (!spec?.value || spec.value.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(spec.value));
  } catch {
    return {};
  }
  const decoded: OciSpecSubset = {};
  const annotations = stringMapField(parsed, "annotations");
  if (annotations !== undefined) decoded.annotations = annotations;
  const cgroupsPath = stringField(objectField(parsed, "linux"), "cgroupsPath");
  if (cgroupsPath !== undefined) decoded.linux = { cgroupsPath };
  return decoded;
}

/** True for a pod sandbox that containerd's CRI plugin made (label `io.cri-containerd.kind`). */
export function isContainerdSandbox(container: Pick<ContainerdContainer, "labels">): boolean {
  return container.labels?.[CONTAINERD_CRI_KIND_LABEL] === CONTAINERD_CRI_SANDBOX_KIND;
}

/** The container a task is of: `container_id`, else `id` (Tasks/List of containerd 1.6). */
export function containerOfTask(task: ContainerdTask): string {
  return task.containerId || task.id || "";
}

/** A Timestamp as ns since the epoch; 0n when absent or before the epoch (Go's zero time). */
export function containerdTimeToNs(time: ContainerdTimestamp | null | undefined): bigint {
  if (!time) return 0n;
  try {
    const ns = BigInt(time.seconds ?? "0") * 1_000_000_000n + BigInt(time.nanos ?? 0);
    return ns > 0n ? ns : 0n;
  } catch {
    return 0n;
  }
}

/**
 * The record state of a container from its task: running while the task runs or is paused,
 * `created` before its task starts, `exited` once it stopped. A container without a task
 * (never started, or its task deleted: `ctr run --rm`, nerdctl after the exit) is `created`.
 */
export function containerdState(task: ContainerdTask | undefined): ContainerStateName {
  switch (task?.status) {
    case undefined:
    case "CREATED":
      return "created";
    case "RUNNING":
    case "PAUSED":
    case "PAUSING":
      return "running";
    case "STOPPED":
      return "exited";
    default:
      return "unknown";
  }
}

/** Inputs of {@linkcode buildContainerdRecord}. */
export interface ContainerdRecordSources {
  container: ContainerdContainer;
  /** The containerd namespace it lives in. */
  namespace: string;
  task?: ContainerdTask;
  runtimeEndpoint: string;
  process?: ContainerProcessFacts;
}

/**
 * Builds the record of a container of containerd's own API: `runtime: "containerd"`, `pod`
 * null, `containerd_namespace` its namespace, name nerdctl's `nerdctl/name` label else the
 * id (what `ctr` names it by), image as created, annotations from its OCI spec. containerd
 * keeps no start time or image id with a container: `started` and `image_id` are `""`.
 */
export function buildContainerdRecord(sources: ContainerdRecordSources): ContainerRecord {
  const { container, task, process = {} } = sources;
  const labels = container.labels ?? {};
  const spec = decodeOciSpec(container.spec);
  return {
    id: container.id,
    name: labels[NERDCTL_NAME_LABEL] || container.id,
    state: containerdState(task),
    created: nsToRfc3339(containerdTimeToNs(container.createdAt)),
    started: "",
    attempt: 0,
    image: container.image ?? "",
    image_id: "",
    image_ref: container.image ?? "",
    runtime: "containerd",
    runtime_endpoint: sources.runtimeEndpoint,
    pod: null,
    containerd_namespace: sources.namespace,
    compose: composeOf(labels),
    labels: sorted(labels),
    annotations: sorted(spec.annotations ?? {}),
    pid: process.pid ?? null,
    cgroup_path: process.cgroupPath ?? null,
    cgroup_id: process.cgroupId === undefined ? null : Number(process.cgroupId),
    mntns_id: process.mntnsId === undefined ? null : Number(process.mntnsId),
  };
}

function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}
