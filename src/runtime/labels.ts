/**
 * The label and annotation keys the kubelet puts on CRI pod sandboxes and containers.
 *
 * Source: kubelet `pkg/kubelet/types/labels.go` and `pkg/kubelet/kuberuntime/labels.go`
 * (Kubernetes 1.2x): sandboxes carry the pod's own labels plus the three pod identity keys;
 * containers carry the three pod keys plus the container name, and annotations such as the
 * restart count.
 *
 * @module
 */

/** Pod name, on sandboxes and containers. */
export const POD_NAME_LABEL = "io.kubernetes.pod.name";
/** Pod namespace, on sandboxes and containers. */
export const POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";
/** Pod UID, on sandboxes and containers. */
export const POD_UID_LABEL = "io.kubernetes.pod.uid";
/** Container name from the pod spec, on containers. */
export const CONTAINER_NAME_LABEL = "io.kubernetes.container.name";
/** Restart count annotation, on containers (a decimal string). */
export const RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount";

/** The kubelet's pod identity keys: not shown among a pod's own labels. */
export const POD_IDENTITY_LABELS: readonly string[] = [
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
];

/**
 * Container annotations the kubelet uses for its own bookkeeping, dropped from records
 * because they say nothing to an operator (hashes, termination-message plumbing).
 */
export const KUBELET_BOOKKEEPING_ANNOTATIONS: readonly string[] = [
  "io.kubernetes.container.hash",
  "io.kubernetes.container.terminationMessagePath",
  "io.kubernetes.container.terminationMessagePolicy",
  "io.kubernetes.pod.terminationGracePeriod",
];

/**
 * cri-dockerd's (formerly dockershim's) own keys on the Docker containers it creates, from
 * cri-dockerd `core/docker_service.go` and dockershim `labels.go` (Kubernetes ≤ 1.23).
 */
/** `podsandbox` on a pod's sandbox (pause) container, `container` on its containers. */
export const DOCKER_CONTAINER_TYPE_LABEL = "io.kubernetes.docker.type";
/** Value of {@linkcode DOCKER_CONTAINER_TYPE_LABEL} on a pod sandbox. */
export const DOCKER_SANDBOX_TYPE = "podsandbox";
/** The pod sandbox's container id, on a pod's containers. */
export const DOCKER_SANDBOX_ID_LABEL = "io.kubernetes.sandbox.id";
/** Prefix of the labels that carry the CRI container's annotations. */
export const DOCKER_ANNOTATION_PREFIX = "annotation.";
/** cri-dockerd's bookkeeping keys: not shown among a container's or pod's labels. */
export const DOCKER_CRI_LABELS: readonly string[] = [
  DOCKER_CONTAINER_TYPE_LABEL,
  DOCKER_SANDBOX_ID_LABEL,
];

/**
 * containerd's CRI plugin marks what it creates in namespace `k8s.io` (containerd
 * `pkg/cri/store` labels, `internal/cri/labels` in 2.x): `sandbox` on a pod sandbox,
 * `container` on a pod's container.
 */
export const CONTAINERD_CRI_KIND_LABEL = "io.cri-containerd.kind";
/** Value of {@linkcode CONTAINERD_CRI_KIND_LABEL} on a pod sandbox. */
export const CONTAINERD_CRI_SANDBOX_KIND = "sandbox";
/** nerdctl's name of a container (`nerdctl run --name`), kept as a containerd label. */
export const NERDCTL_NAME_LABEL = "nerdctl/name";

/** Docker Compose's project and service of a container (compose-spec, all versions). */
export const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";
/** See {@linkcode COMPOSE_PROJECT_LABEL}. */
export const COMPOSE_SERVICE_LABEL = "com.docker.compose.service";
