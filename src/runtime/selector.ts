/**
 * Container selection as operators know it from `crictl ps` and `kubectl get -l`: by pod
 * name, namespace, container name and `key=value` labels, all ANDed.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { ContainerRecord, PodRecord } from "./record.ts";

/** Which containers a command works on. Absent fields match everything. */
export interface ContainerSelector {
  /** Pod name, exact. */
  pod?: string;
  /** Pod namespace, exact. Absent = every namespace (as crictl, unlike kubectl). */
  namespace?: string;
  /** Container name, exact. */
  container?: string;
  /** Each must equal a pod label or a container label of the same key. */
  labels?: Record<string, string>;
  /** Also match containers that are not running (`ps -a`). */
  includeStopped?: boolean;
}

/**
 * Parses repeated `-l key=value` flags (also `key=value,key2=value2` in one flag).
 * @throws {UsageError} on an item without `=` or with an empty key.
 */
export function parseLabelSelector(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items.flatMap((i) => i.split(","))) {
    const at = item.indexOf("=");
    if (at <= 0) {
      throw new UsageError(`Invalid label selector "${item}": expected key=value`);
    }
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return labels;
}

/**
 * The namespace a container is in, as `ps` shows it and `-n` matches it: its pod's, else
 * the containerd namespace of a container of containerd's own API, else undefined.
 */
export function namespaceOf(
  record: Pick<ContainerRecord, "pod" | "containerd_namespace">,
): string | undefined {
  return record.pod?.namespace ?? record.containerd_namespace;
}

/** True when `record` satisfies every criterion of `selector`. */
export function matchesSelector(record: ContainerRecord, selector: ContainerSelector): boolean {
  if (!selector.includeStopped && record.state !== "running") return false;
  // A container outside any pod (Docker) has no pod name to match, nor a namespace but
  // containerd's (containerd's own API).
  if (selector.pod !== undefined && record.pod?.name !== selector.pod) return false;
  if (selector.namespace !== undefined && namespaceOf(record) !== selector.namespace) {
    return false;
  }
  if (selector.container !== undefined && record.name !== selector.container) return false;
  for (const [key, value] of Object.entries(selector.labels ?? {})) {
    if (record.pod?.labels[key] !== value && record.labels[key] !== value) return false;
  }
  return true;
}

/**
 * True when a pod sandbox's own processes (no container) satisfy `selector`: its pod name,
 * namespace and labels match, and no container name is asked for.
 */
export function matchesPod(pod: PodRecord, selector: ContainerSelector): boolean {
  if (selector.container !== undefined) return false;
  if (selector.pod !== undefined && pod.name !== selector.pod) return false;
  if (selector.namespace !== undefined && pod.namespace !== selector.namespace) return false;
  for (const [key, value] of Object.entries(selector.labels ?? {})) {
    if (pod.labels[key] !== value) return false;
  }
  return true;
}

/** True when the selector names nothing: every (running) container matches. */
export function selectsEverything(selector: ContainerSelector): boolean {
  return selector.pod === undefined && selector.namespace === undefined &&
    selector.container === undefined && Object.keys(selector.labels ?? {}).length === 0;
}
