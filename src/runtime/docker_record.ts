/**
 * Docker Engine API answers (`GET /containers/{id}/json`) as {@linkcode ContainerRecord}s.
 * Pure: the process facts (pid's cgroup, mount namespace) are read by the caller.
 *
 * Containers that the kubelet runs through cri-dockerd carry their pod in the kubelet's
 * `io.kubernetes.*` labels and cri-dockerd's own (`labels.ts`): they get that pod, their
 * CRI container name and annotations, as cri-dockerd's CRI answers would give them. Other
 * containers (`docker run`, compose) are in no pod: `pod` is null.
 *
 * @module
 */
import type {
  ContainerProcessFacts,
  ContainerRecord,
  ContainerStateName,
  PodRecord,
} from "./record.ts";
import { composeOf, imageIdOf, nsToRfc3339 } from "./record.ts";
import {
  CONTAINER_NAME_LABEL,
  DOCKER_ANNOTATION_PREFIX,
  DOCKER_CONTAINER_TYPE_LABEL,
  DOCKER_CRI_LABELS,
  DOCKER_SANDBOX_ID_LABEL,
  DOCKER_SANDBOX_TYPE,
  KUBELET_BOOKKEEPING_ANNOTATIONS,
  POD_IDENTITY_LABELS,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from "./labels.ts";
import { cgroupsPathToCgroupPath } from "./container_info.ts";
import {
  booleanField,
  expectObjectWithId,
  integerField,
  objectField,
  stringField,
  stringMapField,
} from "./json_shape.ts";

/**
 * The parts of `GET /containers/{id}/json` read here (Engine API 1.24+), as
 * {@linkcode parseDockerInspect} gives them: every field present is of its type.
 */
export interface DockerContainerInspect {
  Id: string;
  /** `/web`: the name with a leading slash. */
  Name?: string;
  /** RFC 3339 with ns. */
  Created?: string;
  RestartCount?: number;
  /** Image id, `sha256:<64 hex>`. */
  Image?: string;
  State?: {
    /** created, running, paused, restarting, removing, exited, dead. */
    Status?: string;
    Running?: boolean;
    Pid?: number;
    /** RFC 3339 with ns; `0001-01-01T00:00:00Z` when never. */
    StartedAt?: string;
    FinishedAt?: string;
  };
  Config?: {
    /** The image as `docker run` / the create call named it. */
    Image?: string;
    Labels?: Record<string, string> | null;
  };
  HostConfig?: { CgroupParent?: string };
}

/**
 * A `GET /containers/{id}/json` answer as read here: the fields of
 * {@linkcode DockerContainerInspect}, each kept only when of its type (a wrong-typed field is
 * dropped as if unsaid: `Name: []` gives no name, `Config.Labels: "x"` no labels, `State: 7`
 * no state), and label values that are not strings dropped. Podman's Docker-compatible
 * answer is read the same way.
 * @throws {MalformedAnswerError} when the answer is no object with a non-empty string `Id`
 * @example parseDockerInspect({ Id: "abc", Name: 5 }) // { Id: "abc" }
 */
export function parseDockerInspect(answer: unknown): DockerContainerInspect {
  const raw = expectObjectWithId(answer);
  const inspect: DockerContainerInspect = { Id: raw.Id };
  const name = stringField(raw, "Name");
  if (name !== undefined) inspect.Name = name;
  const created = stringField(raw, "Created");
  if (created !== undefined) inspect.Created = created;
  const restarts = integerField(raw, "RestartCount");
  if (restarts !== undefined) inspect.RestartCount = restarts;
  const image = stringField(raw, "Image");
  if (image !== undefined) inspect.Image = image;
  const rawState = objectField(raw, "State");
  if (rawState) {
    const state: NonNullable<DockerContainerInspect["State"]> = {};
    const status = stringField(rawState, "Status");
    if (status !== undefined) state.Status = status;
    const running = booleanField(rawState, "Running");
    if (running !== undefined) state.Running = running;
    const pid = integerField(rawState, "Pid");
    if (pid !== undefined) state.Pid = pid;
    const startedAt = stringField(rawState, "StartedAt");
    if (startedAt !== undefined) state.StartedAt = startedAt;
    const finishedAt = stringField(rawState, "FinishedAt");
    if (finishedAt !== undefined) state.FinishedAt = finishedAt;
    inspect.State = state;
  }
  const rawConfig = objectField(raw, "Config");
  if (rawConfig) {
    const config: NonNullable<DockerContainerInspect["Config"]> = {};
    const configImage = stringField(rawConfig, "Image");
    if (configImage !== undefined) config.Image = configImage;
    const labels = stringMapField(rawConfig, "Labels");
    if (labels !== undefined) config.Labels = labels;
    inspect.Config = config;
  }
  const rawHost = objectField(raw, "HostConfig");
  if (rawHost) {
    const parent = stringField(rawHost, "CgroupParent");
    inspect.HostConfig = parent !== undefined ? { CgroupParent: parent } : {};
  }
  return inspect;
}

/** Docker's `State.Status` as a record state: paused and restarting containers have processes. */
const STATES: Record<string, ContainerStateName> = {
  created: "created",
  running: "running",
  paused: "running",
  restarting: "running",
  removing: "exited",
  exited: "exited",
  dead: "exited",
};

/**
 * An Engine API time (RFC 3339, up to 9 fractional digits, any offset) in ns since the
 * epoch; undefined for Docker's zero time (`0001-01-01T00:00:00Z`, "never"), "" or garbage.
 * @example dockerTimeToNs("2026-12-01T00:37:19.5Z") // 1796085439500000000n
 */
export function dockerTimeToNs(time: string | undefined): bigint | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(
    time ?? "",
  );
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? "").padEnd(9, "0"));
}

/** True for cri-dockerd's pod sandbox (pause) containers. */
export function isDockerSandbox(inspect: DockerContainerInspect): boolean {
  return inspect.Config?.Labels?.[DOCKER_CONTAINER_TYPE_LABEL] === DOCKER_SANDBOX_TYPE;
}

/**
 * The cgroup path the daemon gives a container (below the cgroup root), for when no process
 * shows it: `<CgroupParent or /docker>/<id>` with the cgroupfs driver, the unit
 * `docker-<id>.scope` in `<CgroupParent or system.slice>` with the systemd driver (moby
 * `daemon/oci_linux.go`, `getCgroupsPath`). Undefined for another driver.
 *
 * @param driver `CgroupDriver` of `GET /info`: `cgroupfs`, `systemd`, `none`
 * @example dockerCgroupPath("abc", "", "cgroupfs") // "/docker/abc"
 */
export function dockerCgroupPath(
  id: string,
  parent: string | undefined,
  driver: string | undefined,
): string | undefined {
  if (driver === "systemd") {
    return cgroupsPathToCgroupPath(`${parent || "system.slice"}:docker:${id}`);
  }
  if (driver !== "cgroupfs") return undefined;
  const base = (parent || "/docker").replace(/\/+$/, "");
  return `${base.startsWith("/") ? "" : "/"}${base}/${id}`;
}

/** Copy of a string map with keys in sorted order, so output is stable run to run. */
function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The pod of a cri-dockerd container or sandbox, from the kubelet's labels; null when it has
 * none (a container outside Kubernetes).
 * @param sandboxLabels the pod sandbox container's labels, which carry the pod's own labels
 */
export function dockerPodOf(
  labels: Record<string, string>,
  sandboxId: string,
  sandboxLabels: Record<string, string> | undefined,
): PodRecord | null {
  if (labels[POD_NAME_LABEL] === undefined) return null;
  const own = Object.entries(sandboxLabels ?? {}).filter(([key]) =>
    !POD_IDENTITY_LABELS.includes(key) && !DOCKER_CRI_LABELS.includes(key) &&
    !key.startsWith(DOCKER_ANNOTATION_PREFIX)
  );
  return {
    sandbox_id: sandboxId,
    name: labels[POD_NAME_LABEL] ?? "",
    namespace: labels[POD_NAMESPACE_LABEL] ?? "",
    uid: labels[POD_UID_LABEL] ?? "",
    labels: sorted(Object.fromEntries(own)),
  };
}

/** Inputs of {@linkcode buildDockerRecord}. */
export interface DockerRecordSources {
  inspect: DockerContainerInspect;
  /** `GET /containers/{sandbox}/json` of its pod sandbox (cri-dockerd), when known. */
  sandbox?: DockerContainerInspect;
  /** `unix:///...` endpoint of the daemon. */
  runtimeEndpoint: string;
  /** Runtime name to record. Default `docker`. */
  runtimeName?: string;
  process?: ContainerProcessFacts;
}

/**
 * Builds a record from an inspect answer and process facts. Pure.
 *
 * - `name`: cri-dockerd's `io.kubernetes.container.name`, else the name without its `/`;
 * - `image`: `Config.Image`, as requested; `image_id` and `image_ref`: `Image`, the id;
 * - `attempt`: the attempt cri-dockerd puts last in its names (`k8s_app_pod_ns_uid_2`),
 *   else `RestartCount`;
 * - `labels`: all of them, except that cri-dockerd's `annotation.*` labels become
 *   `annotations` (the kubelet's bookkeeping ones dropped) and its own keys are left out;
 * - `compose`: the project and service of Compose's `com.docker.compose.*` labels, else null.
 */
export function buildDockerRecord(sources: DockerRecordSources): ContainerRecord {
  const { inspect, process = {} } = sources;
  const allLabels = inspect.Config?.Labels ?? {};
  const kube = allLabels[POD_NAME_LABEL] !== undefined;
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(allLabels)) {
    if (kube && key.startsWith(DOCKER_ANNOTATION_PREFIX)) {
      const annotation = key.slice(DOCKER_ANNOTATION_PREFIX.length);
      if (!KUBELET_BOOKKEEPING_ANNOTATIONS.includes(annotation)) annotations[annotation] = value;
    } else if (!kube || !DOCKER_CRI_LABELS.includes(key)) {
      labels[key] = value;
    }
  }
  const dockerName = (inspect.Name ?? "").replace(/^\//, "");
  const criAttempt = kube ? /^k8s_.*_(\d+)$/.exec(dockerName)?.[1] : undefined;
  const state = STATES[inspect.State?.Status ?? ""] ?? "unknown";
  const imageId = imageIdOf(inspect.Image ?? "") ?? "";
  return {
    id: inspect.Id,
    name: (kube ? allLabels[CONTAINER_NAME_LABEL] : undefined) || dockerName,
    state,
    created: nsToRfc3339(dockerTimeToNs(inspect.Created) ?? 0n),
    started: nsToRfc3339(dockerTimeToNs(inspect.State?.StartedAt) ?? 0n),
    attempt: criAttempt !== undefined ? Number(criAttempt) : inspect.RestartCount ?? 0,
    image: inspect.Config?.Image ?? "",
    image_id: imageId,
    image_ref: inspect.Image ?? "",
    runtime: sources.runtimeName ?? "docker",
    runtime_endpoint: sources.runtimeEndpoint,
    pod: dockerPodOf(
      allLabels,
      allLabels[DOCKER_SANDBOX_ID_LABEL] ?? "",
      sources.sandbox?.Config?.Labels ?? undefined,
    ),
    compose: composeOf(labels),
    labels: sorted(labels),
    annotations: sorted(annotations),
    pid: process.pid ?? null,
    cgroup_path: process.cgroupPath ?? null,
    cgroup_id: process.cgroupId === undefined ? null : Number(process.cgroupId),
    mntns_id: process.mntnsId === undefined ? null : Number(process.mntnsId),
  };
}

/**
 * The host pid of a container's init, when the daemon says it runs (`State.Pid` is 0
 * otherwise).
 */
export function dockerPidOf(inspect: DockerContainerInspect): number | undefined {
  const pid = inspect.State?.Pid ?? 0;
  return inspect.State?.Running && pid > 0 ? pid : undefined;
}
