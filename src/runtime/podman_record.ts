/**
 * What Podman's service says beyond the Docker-compatible API, and how it shapes a
 * {@linkcode ContainerRecord}. Pure: the calls are `podman_client.ts`'s.
 *
 * Podman answers the Docker Engine API's paths with Docker's shapes (`docker_record.ts` maps
 * those), but they do not tell which pod (`podman pod create`) a container is in, nor which
 * container is a pod's infra container. libpod's own API does:
 * `GET /v{libpod}/libpod/containers/json` has `Pod`, `PodName` and `IsInfra` per container,
 * `GET /v{libpod}/libpod/pods/json` each pod's `Name`, `Labels` and `InfraId` (Podman's API
 * reference, "libpod" section; checked against Podman 4.3.1).
 *
 * Decisions:
 * - A Podman pod is the record's pod: `name` its name, `uid` its id (64 hex digits),
 *   `sandbox_id` its infra container's id (`""` for a pod made with `--infra=false`),
 *   `labels` its labels (`podman pod create --label`), and `namespace`
 *   {@linkcode PODMAN_POD_NAMESPACE}: Podman pods live in no namespace, and a fixed name keeps
 *   tables aligned and lets `-n podman` select every Podman pod.
 * - A pod's infra container (Podman's pause) is its pod sandbox, as a CRI pod sandbox: not
 *   listed as a container; its processes are the pod's own.
 *
 * @module
 */
import type { ContainerProcessFacts, ContainerRecord, PodRecord } from "./record.ts";
import { buildDockerRecord, type DockerContainerInspect } from "./docker_record.ts";
import type { DockerVersionResponse } from "./docker_api.ts";
import { cgroupsPathToCgroupPath } from "./container_info.ts";
import { booleanField, expectObjectWithId, stringField, stringMapField } from "./json_shape.ts";

/** `pod.namespace` of every Podman pod (see the module doc). */
export const PODMAN_POD_NAMESPACE = "podman";

/** The component Podman's `GET /version` names itself with (`Components[].Name`). */
export const PODMAN_ENGINE_COMPONENT = "Podman Engine";

/**
 * `GET /version` as Podman's service answers it: Docker's shape, one component Podman's
 * (with `Details.APIVersion`), as `parseDockerVersion` reads it.
 */
export type PodmanVersionResponse = DockerVersionResponse;

/**
 * Podman's version and libpod API version, when a `GET /version` answer is Podman's (its
 * components name the {@linkcode PODMAN_ENGINE_COMPONENT}); undefined for dockerd's.
 * @example podmanEngineOf({ Components: [{ Name: "Podman Engine", Version: "4.3.1",
 *   Details: { APIVersion: "4.3.1" } }] }) // { version: "4.3.1", apiVersion: "4.3.1" }
 */
export function podmanEngineOf(
  answer: PodmanVersionResponse,
): { version: string; apiVersion: string } | undefined {
  const engine = answer.Components?.find((c) => c.Name === PODMAN_ENGINE_COMPONENT);
  if (!engine) return undefined;
  const version = engine.Version || answer.Version || "";
  // libpod's API version follows Podman's own (Podman 4.3.1 serves API 4.3.1).
  return { version, apiVersion: engine.Details?.APIVersion || version };
}

/**
 * The parts of one entry of `GET /libpod/containers/json` read here, as
 * {@linkcode parseLibpodContainerEntry} gives them: every field present is of its type.
 */
export interface LibpodContainerEntry {
  Id: string;
  /** The pod's id; `""` outside any pod. */
  Pod?: string;
  PodName?: string;
  /** True for a pod's infra container. */
  IsInfra?: boolean;
}

/**
 * The parts of one entry of `GET /libpod/pods/json` read here, as
 * {@linkcode parseLibpodPodEntry} gives them: every field present is of its type.
 */
export interface LibpodPodEntry {
  Id: string;
  Name?: string;
  Labels?: Record<string, string> | null;
  /** The infra container's id; `""` for a pod without one. */
  InfraId?: string;
}

/**
 * One entry of libpod's container list as read here: each field kept only when of its type.
 * @throws {MalformedAnswerError} when the entry is no object with a non-empty string `Id`
 * @example parseLibpodContainerEntry({ Id: "abc", IsInfra: "no" }) // { Id: "abc" }
 */
export function parseLibpodContainerEntry(answer: unknown): LibpodContainerEntry {
  const raw = expectObjectWithId(answer);
  const entry: LibpodContainerEntry = { Id: raw.Id };
  const pod = stringField(raw, "Pod");
  if (pod !== undefined) entry.Pod = pod;
  const podName = stringField(raw, "PodName");
  if (podName !== undefined) entry.PodName = podName;
  const infra = booleanField(raw, "IsInfra");
  if (infra !== undefined) entry.IsInfra = infra;
  return entry;
}

/**
 * One entry of libpod's pod list as read here: each field kept only when of its type, label
 * values that are not strings dropped.
 * @throws {MalformedAnswerError} when the entry is no object with a non-empty string `Id`
 * @example parseLibpodPodEntry({ Id: "p1", Labels: "x" }) // { Id: "p1" }
 */
export function parseLibpodPodEntry(answer: unknown): LibpodPodEntry {
  const raw = expectObjectWithId(answer);
  const pod: LibpodPodEntry = { Id: raw.Id };
  const name = stringField(raw, "Name");
  if (name !== undefined) pod.Name = name;
  const labels = stringMapField(raw, "Labels");
  if (labels !== undefined) pod.Labels = labels;
  const infraId = stringField(raw, "InfraId");
  if (infraId !== undefined) pod.InfraId = infraId;
  return pod;
}

/**
 * The pod record of a container of a Podman pod; null outside any pod.
 * @param pod the pod's entry of `GET /libpod/pods/json`, when it was listed (a pod removed
 *   meanwhile leaves only the container's own `Pod` and `PodName`)
 */
export function podmanPodOf(
  entry: LibpodContainerEntry | undefined,
  pod: LibpodPodEntry | undefined,
): PodRecord | null {
  if (!entry?.Pod) return null;
  const labels = Object.entries(pod?.Labels ?? {}).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  return {
    sandbox_id: pod?.InfraId ?? "",
    name: entry.PodName || pod?.Name || "",
    namespace: PODMAN_POD_NAMESPACE,
    uid: entry.Pod,
    labels: Object.fromEntries(labels),
  };
}

/**
 * The cgroup path Podman gives a container (below the cgroup root), for when no process
 * shows it: `<CgroupParent or /libpod_parent>/libpod-<id>` with the cgroupfs manager, the
 * unit `libpod-<id>.scope` in `<CgroupParent or machine.slice>` with the systemd manager
 * (libpod `CgroupfsDefaultCgroupParent`, `SystemdDefaultCgroupParent`; a pod's containers
 * have the pod's cgroup as parent: `/libpod_parent/<pod id>`,
 * `machine-libpod_pod_<pod id>.slice`). Undefined for another manager.
 *
 * @param driver `CgroupDriver` of `GET /info`: `cgroupfs` or `systemd`
 * @example podmanCgroupPath("abc", "", "cgroupfs") // "/libpod_parent/libpod-abc"
 */
export function podmanCgroupPath(
  id: string,
  parent: string | undefined,
  driver: string | undefined,
): string | undefined {
  if (driver === "systemd") {
    return cgroupsPathToCgroupPath(`${parent || "machine.slice"}:libpod:${id}`);
  }
  if (driver !== "cgroupfs") return undefined;
  const base = (parent || "/libpod_parent").replace(/\/+$/, "");
  return `${base.startsWith("/") ? "" : "/"}${base}/libpod-${id}`;
}

/** Inputs of {@linkcode buildPodmanRecord}. */
export interface PodmanRecordSources {
  /** The Docker-compatible `GET /containers/{id}/json`. */
  inspect: DockerContainerInspect;
  /** Its entry of libpod's container list, when listed. */
  entry?: LibpodContainerEntry;
  /** Its pod's entry of libpod's pod list, when in a listed pod. */
  pod?: LibpodPodEntry;
  /** `unix:///...` endpoint of the service. */
  runtimeEndpoint: string;
  process?: ContainerProcessFacts;
}

/**
 * Builds a record as for Docker (`buildDockerRecord`: name, image as requested, ids,
 * labels, times, state), with `runtime: "podman"` and the Podman pod as its pod. Pure.
 */
export function buildPodmanRecord(sources: PodmanRecordSources): ContainerRecord {
  return {
    ...buildDockerRecord({
      inspect: sources.inspect,
      runtimeEndpoint: sources.runtimeEndpoint,
      runtimeName: "podman",
      ...(sources.process ? { process: sources.process } : {}),
    }),
    pod: podmanPodOf(sources.entry, sources.pod),
  };
}
