/**
 * TypeScript shapes of the CRI runtime.v1 messages crienrich reads, as `@grpc/proto-loader`
 * decodes them from `proto/cri.proto`: camelCase field names, enums as their names, int64 as
 * decimal strings, maps as plain objects, absent fields filled with defaults.
 *
 * @module
 */

/** Answer of `RuntimeService.Version`. */
export interface CriVersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** Pod sandbox metadata: the pod's name, uid and namespace as the kubelet gave them. */
export interface CriPodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** One item of `ListPodSandbox` (also the shape of `PodSandboxStatus.status`, minus fields). */
export interface CriPodSandbox {
  id: string;
  metadata: CriPodSandboxMetadata | null;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
  /** Creation time, ns since the Unix epoch, as a decimal string. */
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler?: string;
}

/** Container state names of the CRI. */
export type CriContainerState =
  | "CONTAINER_CREATED"
  | "CONTAINER_RUNNING"
  | "CONTAINER_EXITED"
  | "CONTAINER_UNKNOWN";

/** Image reference as the CRI carries it. */
export interface CriImageSpec {
  image: string;
  annotations?: Record<string, string>;
  userSpecifiedImage?: string;
}

/** One item of `ListContainers`. */
export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number } | null;
  image: CriImageSpec | null;
  imageRef: string;
  state: CriContainerState;
  /** Creation time, ns since the Unix epoch, as a decimal string. */
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  imageId?: string;
}

/** `ContainerStatusResponse.status`. */
export interface CriContainerStatus {
  id: string;
  metadata: { name: string; attempt: number } | null;
  state: CriContainerState;
  /** ns since the Unix epoch, decimal strings; "0" when not set. */
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  image: CriImageSpec | null;
  imageRef: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  imageId?: string;
}

/** Answer of `RuntimeService.ContainerStatus`; `info` is filled only when verbose. */
export interface CriContainerStatusResponse {
  status: CriContainerStatus | null;
  /** Runtime-specific JSON documents; key "info" holds pid and runtimeSpec. */
  info: Record<string, string>;
}

/** Answer of `ImageService.ImageStatus`; `image` is null when the runtime has no such image. */
export interface CriImageStatusResponse {
  image: { id: string; repoTags: string[]; repoDigests: string[]; size: string } | null;
}
