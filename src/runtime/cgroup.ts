/**
 * Cgroup paths: which container a cgroup belongs to, where the cgroup v2 tree is mounted,
 * and the 64-bit cgroup id the kernel reports for a cgroup.
 *
 * A process's cgroup path (the `0::` line of `/proc/<pid>/cgroup`, see cgroups(7)) names its
 * container because every runtime derives the cgroup from the container id. The layouts:
 *
 * | Layout | Written by |
 * | --- | --- |
 * | `/kubepods[/<qos>]/pod<uid>/<id>` | kubelet cgroupfs driver: `pkg/kubelet/cm/cgroup_manager_linux.go`, `qos_container_manager_linux.go` (Guaranteed pods sit directly under `kubepods`, `pod` + uid from `pod_container_manager_linux.go`); the runtime adds `<id>` (containerd CRI, cri-dockerd, k3s) or `crio-<id>` (CRI-O `internal/config/cgmgr/cgroupfs.go`) |
 * | `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_with_underscores>.slice/<scope>` | kubelet systemd driver: `ToSystemd()` in `cgroup_manager_linux.go` turns each level into a slice and escapes `-` in the uid as `_`, because `-` means nesting in slice names (systemd.slice(5)) |
 * | `slice:prefix:name` | runc systemd driver's `cgroupsPath` (runc `docs/systemd.md`): the unit is `<prefix>-<name>.scope` in `<slice>`. containerd CRI writes `<slice>:cri-containerd:<id>`, CRI-O `<slice>:crio:<id>`, Docker `system.slice:docker:<id>`, Podman `machine.slice:libpod:<id>`, nerdctl `system.slice:nerdctl:<id>` |
 * | `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, `libpod-<id>.scope`, `nerdctl-<id>.scope` | the scope units those `cgroupsPath`s become (nerdctl's is a containerd container) |
 * | `<runtime's cgroup>/<slice>:<prefix>:<id>` | a `slice:prefix:name` `cgroupsPath` given to runc's cgroupfs driver (the runtime set up for systemd, runc not): a path without a leading `/` is relative to runc's own cgroup (runc `libcontainer/cgroups/fs2/defaultpath.go`), so the literal string becomes one directory name, e.g. under `/system.slice/containerd.service/` |
 * | `<parent>/crio-<id>` (relative) | a cgroupfs `cgroupsPath` whose sandbox cgroup parent is relative, as CRI-O reports it (`pod_123-456/crio-<id>`); on disk it sits below runc's own cgroup, as above |
 * | `crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope` | the conmon monitor of CRI-O and Podman: a helper process, not the container |
 * | `<scope>/container` | crun's systemd driver: processes live in a `container` sub-cgroup of the scope (crun annotation `run.oci.systemd.subgroup`; runc issue #4072) |
 * | `/docker/<id>` | dockerd cgroupfs driver (`daemon/oci_linux.go`, default cgroup parent `/docker`) |
 * | `/libpod_parent/libpod-<id>` | Podman cgroupfs driver (libpod `CgroupfsDefaultCgroupParent`) |
 * | `/k8s.io/<id>` | containerd CRI given no cgroup parent: the containerd namespace is the parent (seen on this lab, containerd 1.6.20) |
 * | `/<namespace>/<id>` | containerd's default `cgroupsPath` outside Kubernetes (`ctr run`, nerdctl with cgroupfs; containerd `oci/spec.go`): the id is whatever `ctr run` was given (`job1`), so any containerd identifier right below a top-level cgroup named like a containerd namespace (not a systemd unit, not another layout's parent) is a candidate; the runtime's record decides |
 * | `/docker/<outer id>/kubepods/…/<id>`, `/docker/<outer id>/docker/<id>` | a runtime inside a container: a kind node (kubernetes-sigs/kind runs each node as a Docker container with containerd inside) or docker-in-docker; the inner runtime's cgroups sit below the outer container's, in any of the layouts above |
 *
 * A path can name several containers (the nested rows). The innermost id is the container
 * the process runs in; the outer ones hold the runtime that created it. Cgroups below the
 * innermost id (crun's `container`, systemd inside a container) belong to it. conmon's
 * scope ends the search: it and anything below it are the monitor's, while containers
 * outside it (a kind node) still hold the process.
 *
 * A cgroup name is a claim, not a proof: a process that may create cgroups (a privileged
 * container, or one with a delegated cgroup namespace) can make `/k8s.io/<its id>/<other
 * id>`. {@linkcode containerCandidates} therefore lists every id innermost first, and a
 * caller accepts one only when the runtime's record agrees ({@linkcode cgroupPathAgrees}),
 * falling back to outer ones.
 *
 * @module
 */

import { join } from "node:path";
import { errorMessage, NotSupportedError } from "../errors.ts";

/** A runtime a cgroup path can show; `unknown` where the layout is shared by several. */
export type CgroupRuntime = "containerd" | "cri-o" | "docker" | "podman" | "unknown";

/** Kubernetes QoS class, as kubelet names its cgroup levels (lowercase). */
export type QosClass = "guaranteed" | "burstable" | "besteffort";

/** The container (and pod) a cgroup path shows. */
export interface CgroupContainerRef {
  /** The runtime the layout shows; `unknown` for bare-id layouts several runtimes share. */
  runtime: CgroupRuntime;
  /** The container id: 64 lowercase hex digits, as the runtime reports it over CRI. */
  containerId: string;
  /**
   * The pod uid in dashed form (`1f3b5c7d-2222-4a4a-9b9b-0123456789ab`) when the path shows a
   * kubelet pod cgroup. Static pods have 32 hex digits without dashes (kubelet hashes the
   * manifest), kept as they are.
   */
  podUid?: string;
  /** The pod's QoS class, set with {@linkcode CgroupContainerRef.podUid}. */
  qosClass?: QosClass;
}

/** A container a cgroup path names, and where in the path it names it. */
export interface CgroupCandidate extends CgroupContainerRef {
  /**
   * Index, in the segments given to {@linkcode containerCandidates}, of the segment that
   * names the container (`<id>`, `crio-<id>.scope`, `<slice>:crio:<id>`, …); for crun's
   * `<scope>/container` it is the scope's.
   */
  segmentIndex: number;
}

const ID = "[0-9a-f]{64}";
const BARE_ID = new RegExp(`^${ID}$`);

/** One row of the container table: a path segment and the runtime it shows. */
interface ContainerPattern {
  /** Matches one whole path segment; the `id` group is the container id. */
  segment: RegExp;
  /** When set, the segment before must match too; a tail without it falls to later rows. */
  parent?: RegExp;
  /** The runtime shown, or `null` for a runtime helper's cgroup that is not a container. */
  runtime: CgroupRuntime | null;
}

/** Tried in order on each segment; the first match decides. */
const CONTAINER_PATTERNS: readonly ContainerPattern[] = [
  // conmon, the container monitor of CRI-O and Podman; listed before crio-/libpod- ids.
  { segment: new RegExp(`^crio-conmon-${ID}(?:\\.scope)?$`), runtime: null },
  { segment: new RegExp(`^libpod-conmon-${ID}(?:\\.scope)?$`), runtime: null },
  // Systemd scopes: `<prefix>-<id>.scope`; CRI-O and Podman use the same name without
  // `.scope` under their cgroupfs drivers.
  { segment: new RegExp(`^cri-containerd-(?<id>${ID})\\.scope$`), runtime: "containerd" },
  { segment: new RegExp(`^nerdctl-(?<id>${ID})\\.scope$`), runtime: "containerd" },
  { segment: new RegExp(`^crio-(?<id>${ID})(?:\\.scope)?$`), runtime: "cri-o" },
  { segment: new RegExp(`^docker-(?<id>${ID})\\.scope$`), runtime: "docker" },
  { segment: new RegExp(`^libpod-(?<id>${ID})(?:\\.scope)?$`), runtime: "podman" },
  // Bare ids: the parent names the runtime when it is the runtime's default parent.
  { segment: new RegExp(`^(?<id>${ID})$`), parent: /^docker$/, runtime: "docker" },
  { segment: new RegExp(`^(?<id>${ID})$`), parent: /^k8s\.io$/, runtime: "containerd" },
  // Kubelet cgroupfs pods, `--cgroup-parent` and other bare-id layouts.
  { segment: new RegExp(`^(?<id>${ID})$`), runtime: "unknown" },
];

const UID_DASHED = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}";
const UID_UNDERSCORED = "[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}|[0-9a-f]{32}";
const QOS = "besteffort|burstable";

/** Systemd driver; kubelet `--cgroup-root` may add a prefix (kind: `kubelet-kubepods-...`). */
const SYSTEMD_POD = new RegExp(
  `^(?:[\\w.-]*-)?kubepods(?:-(?<qos>${QOS}))?-pod(?<uid>${UID_UNDERSCORED})\\.slice$`,
);
/** Cgroupfs driver: `pod<uid>` right under `kubepods` (Guaranteed) or `kubepods/<qos>`. */
const CGROUPFS_POD = new RegExp(`^pod(?<uid>${UID_DASHED})$`);

/** The runc systemd driver's `cgroupsPath` form `slice:prefix:name`. */
const SYSTEMD_CGROUPS_PATH = /^(?<slice>[^/:]*):(?<prefix>[^/:]*):(?<name>[^/:]+)$/;

/**
 * A containerd identifier (containerd `pkg/identifiers`: alphanumerics joined by single `.`,
 * `_` or `-`, at most 76 characters): a namespace or container name.
 */
const CONTAINERD_IDENTIFIER = /^(?=.{1,76}$)[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** Top-level cgroups of other layouts, never a containerd namespace of `/<namespace>/<id>`. */
const NOT_CONTAINERD_NAMESPACES = new Set([
  "kubepods",
  "docker",
  "libpod_parent",
  "k8s.io",
  "moby",
]);

/** systemd unit names (`system.slice`, `init.scope`, `ssh.service`): host cgroups. */
const SYSTEMD_UNIT = /\.(?:slice|scope|service|socket|mount|swap|device|target)$/;

/**
 * containerd's default layout `/<namespace>/<id>` with any container id (a `ctr run` id
 * such as `job1`): `segments` are the whole path, exactly two names.
 */
function containerdDefaultLayout(segments: readonly string[]): CgroupCandidate | undefined {
  if (segments.length !== 2) return undefined;
  const [namespace = "", id = ""] = segments;
  // A name another layout knows (`crio-<id>`, a conmon scope, a bare id) is that layout's.
  if (
    matchContainer(id, namespace) !== undefined ||
    matchContainer(namespace, undefined) !== undefined
  ) {
    return undefined;
  }
  if (NOT_CONTAINERD_NAMESPACES.has(namespace)) return undefined;
  if (SYSTEMD_UNIT.test(namespace) || SYSTEMD_UNIT.test(id)) return undefined;
  if (!CONTAINERD_IDENTIFIER.test(namespace) || !CONTAINERD_IDENTIFIER.test(id)) return undefined;
  return { runtime: "unknown", containerId: id, segmentIndex: 1 };
}

/**
 * Splits a cgroup path into its cgroup names.
 *
 * Decisions: empty segments (doubled or trailing `/`) are dropped, as runc cleans a
 * `cgroupsPath` (`libcontainer/utils.CleanPath`) and the kernel never writes them; `/` is
 * the root, with no segments. A `.` or `..` segment makes the path unusable: no cgroup can
 * have those names, so they only come from a hand-written path or from a path relative to
 * a cgroup namespace root the reader cannot see (`/../../kubepods/…` in `/proc` under a
 * private cgroup namespace, cgroup_namespaces(7)), and then the names do not say where the
 * cgroup is.
 *
 * @param path An absolute cgroup path as `/proc/<pid>/cgroup` shows it without the
 *   `hierarchy-id:controllers:` prefix, or an OCI `cgroupsPath`. A relative path is taken
 *   only where it is clearly a `cgroupsPath`: one segment in the runc systemd form
 *   `slice:prefix:name`, or colon-free names ending in a runtime-prefixed container name
 *   (`pod_123-456/crio-<id>`). A relative path ending in a bare id (`docker/<id>`) or with
 *   colons (`0::/docker/<id>`, an unstripped `/proc` line) is refused: nothing marks it as
 *   a `cgroupsPath`.
 * @returns The names, outermost first (`[]` for the root), or `undefined` when the path has
 *   `.`/`..` segments or is neither absolute nor a clear `cgroupsPath`. The systemd form is
 *   one segment, unexpanded: runc's cgroupfs driver uses it as one directory name.
 *
 * @example
 * ```ts
 * cgroupSegments("/kubepods//besteffort/pod1f3b…/ca97…/"); // ["kubepods", "besteffort", "pod1f3b…", "ca97…"]
 * cgroupSegments("/kubepods/../ca97…"); // undefined
 * cgroupSegments("pod_123-456/crio-ca97…"); // ["pod_123-456", "crio-ca97…"]
 * ```
 */
export function cgroupSegments(path: string): string[] | undefined {
  if (!path.startsWith("/") && SYSTEMD_CGROUPS_PATH.test(path)) return [path];
  const segments = path.split("/").filter((segment) => segment !== "");
  if (segments.some((segment) => segment === "." || segment === "..")) return undefined;
  if (path.startsWith("/")) return segments;
  const leaf = segments.at(-1);
  if (leaf === undefined || BARE_ID.test(leaf) || segments.some((s) => s.includes(":"))) {
    return undefined;
  }
  return matchContainer(leaf, segments.at(-2)) ? segments : undefined;
}

/**
 * Lists every container a cgroup path names, innermost first.
 *
 * Each is only a claim (see the module doc): check it with {@linkcode cgroupPathAgrees}
 * against the runtime's record and fall back to the next one.
 *
 * @param segments Cgroup names outermost first, from {@linkcode cgroupSegments}; may be only
 *   a tail of the real path (the kernel sends at most the innermost few names). Layouts that
 *   need a parent (`docker/<id>`, `k8s.io/<id>`, `kubepods/<qos>/pod<uid>`) are recognised
 *   when the parent is present; without it the id is `unknown` and the pod is left out.
 * @returns The containers with their segment index, innermost first; `[]` when none. The
 *   pod of a container is looked for only between it and the next outer container. A
 *   conmon scope hides itself and everything below it; outer containers stay.
 *
 * @example
 * ```ts
 * containerCandidates(["docker", "0b1f…", "kubepods", "besteffort", "pod1f3b…", "ca97…"]);
 * // [{ runtime: "unknown", containerId: "ca97…", podUid: "1f3b…", qosClass: "besteffort", segmentIndex: 5 },
 * //  { runtime: "docker", containerId: "0b1f…", segmentIndex: 1 }]
 * ```
 */
export function containerCandidates(segments: readonly string[]): CgroupCandidate[] {
  const containerd = containerdDefaultLayout(segments);
  if (containerd) return [containerd];
  const found: CgroupCandidate[] = [];
  let podFrom = 0;
  for (const [index, segment] of segments.entries()) {
    const literal = SYSTEMD_CGROUPS_PATH.exec(segment)?.groups;
    const match = literal
      ? matchSystemdCgroupsPath(literal)
      : matchContainer(segment, segments[index - 1]);
    if (match === undefined) continue;
    if (match === null) break;
    const pod = literal ? podOfSlice(literal.slice ?? "") : findPod(segments, podFrom, index);
    found.push({ ...match, ...pod, segmentIndex: index });
    podFrom = index + 1;
  }
  return found.reverse();
}

/**
 * Tells whether a runtime's record of a container names the same cgroup as a process's
 * path does at a candidate.
 *
 * Compares segment by segment backwards from the candidate's segment, over as many
 * segments as both paths have: the record's path may be relative to the runtime's own
 * cgroup namespace (a kind node records `/kubepods/…` where the host sees
 * `/docker/<node>/kubepods/…`), and `segments` may be a tail. The record's last segment,
 * after dropping crun's `container`, must be the candidate's segment, or the `slice:prefix:id`
 * form of it (then only the slice is compared, with the segment before).
 *
 * Limits: a container that forges the whole of another's path below its own
 * (`/k8s.io/<A>/k8s.io/<B>` against a record `/k8s.io/<B>`) agrees; compare mount
 * namespaces too where that matters.
 *
 * @param recordPaths The record's cgroup paths: the path from `/proc/<pid>/cgroup` of its
 *   process, the OCI spec's `cgroupsPath` literally and its systemd expansion; whichever the
 *   caller has. Paths {@linkcode cgroupSegments} refuses are skipped.
 * @param segments The process's cgroup names, as given to {@linkcode containerCandidates}.
 * @param candidate One of {@linkcode containerCandidates}`(segments)`.
 * @returns `true` when one of the record's paths agrees; `false` otherwise, and when the
 *   candidate's index is outside `segments`.
 *
 * @example
 * ```ts
 * const segments = ["k8s.io", "aaaa…", "bbbb…"]; // container aaaa… made a cgroup named bbbb…
 * const [inner] = containerCandidates(segments);
 * cgroupPathAgrees(["/k8s.io/bbbb…"], segments, inner); // false: not bbbb…'s cgroup
 * ```
 */
export function cgroupPathAgrees(
  recordPaths: readonly string[],
  segments: readonly string[],
  candidate: CgroupCandidate,
): boolean {
  const at = candidate.segmentIndex;
  const target = segments[at];
  if (target === undefined) return false;
  return recordPaths.some((recordPath) => {
    const record = cgroupSegments(recordPath);
    if (record && record.length > 1 && record.at(-1) === "container") record.pop();
    const last = record?.at(-1);
    if (record === undefined || last === undefined) return false;
    if (last !== target) return systemdCgroupsPathNames(last, target, segments[at - 1]);
    for (let back = 1; back < record.length && back <= at; back++) {
      if (record[record.length - 1 - back] !== segments[at - back]) return false;
    }
    return true;
  });
}

/**
 * Finds the container a cgroup path belongs to: the innermost of
 * {@linkcode containerCandidates}, unverified.
 *
 * @param path A cgroup path or `cgroupsPath`, as {@linkcode cgroupSegments} takes it. Paths
 *   are relative to the reader's cgroup namespace root; read them from the host's cgroup
 *   namespace.
 * @returns The runtime, container id and, under kubelet, pod uid and QoS class; `undefined`
 *   when the path is not inside a container: the root, a service, a login session, a
 *   pod-level cgroup, conmon's scope, a path {@linkcode cgroupSegments} refuses, and ids
 *   that are not exactly 64 lowercase hex digits (but in containerd's `/<namespace>/<id>`).
 *
 * @example
 * ```ts
 * parseCgroupPath("/docker/acac86c0e609ca906f632b0e2dacccb2b77d22b0621f20ebece1a4835b93f6f0");
 * // { runtime: "docker", containerId: "acac86c0…93f6f0" }
 * ```
 */
export function parseCgroupPath(path: string): CgroupContainerRef | undefined {
  const segments = cgroupSegments(path);
  const innermost = segments && containerCandidates(segments)[0];
  if (!innermost) return undefined;
  const { segmentIndex: _segmentIndex, ...ref } = innermost;
  return ref;
}

type ContainerMatch = Pick<CgroupContainerRef, "runtime" | "containerId">;

/** A container's match, `null` for a helper's cgroup (conmon), `undefined` for no match. */
function matchContainer(
  segment: string,
  parent: string | undefined,
): ContainerMatch | null | undefined {
  for (const pattern of CONTAINER_PATTERNS) {
    const match = pattern.segment.exec(segment);
    if (!match || (pattern.parent && !pattern.parent.test(parent ?? ""))) continue;
    const containerId = match.groups?.id;
    return pattern.runtime === null || containerId === undefined
      ? null
      : { runtime: pattern.runtime, containerId };
  }
  return undefined;
}

/** The unit runc's systemd driver makes of `slice:prefix:name` (a name ending `.slice` is one). */
function systemdUnit(prefix: string, name: string): string {
  return name.endsWith(".slice") ? name : `${prefix ? `${prefix}-` : ""}${name}.scope`;
}

function matchSystemdCgroupsPath(
  groups: Record<string, string | undefined>,
): ContainerMatch | null | undefined {
  return matchContainer(systemdUnit(groups.prefix ?? "", groups.name ?? ""), undefined);
}

/** True when `literal` is the `slice:prefix:name` form of the unit `segment` in `parent`. */
function systemdCgroupsPathNames(
  literal: string,
  segment: string,
  parent: string | undefined,
): boolean {
  const groups = SYSTEMD_CGROUPS_PATH.exec(literal)?.groups;
  if (!groups || systemdUnit(groups.prefix ?? "", groups.name ?? "") !== segment) return false;
  return !groups.slice || parent === undefined || parent === groups.slice;
}

type PodMatch = Pick<CgroupContainerRef, "podUid" | "qosClass">;

function podMatch(uid: string, qos: string | undefined): PodMatch {
  return {
    podUid: uid.replaceAll("_", "-"),
    qosClass: qos === "besteffort" || qos === "burstable" ? qos : "guaranteed",
  };
}

function podOfSlice(slice: string): PodMatch {
  const groups = SYSTEMD_POD.exec(slice)?.groups;
  return groups?.uid ? podMatch(groups.uid, groups.qos) : {};
}

/** The pod nearest above `segments[to]`, looking no further out than `segments[from]`. */
function findPod(segments: readonly string[], from: number, to: number): PodMatch {
  for (let index = to - 1; index >= from; index--) {
    const segment = segments[index] ?? "";
    const systemd = podOfSlice(segment);
    if (systemd.podUid) return systemd;
    const uid = CGROUPFS_POD.exec(segment)?.groups?.uid;
    if (uid === undefined) continue;
    const [parent, grandparent] = [segments[index - 1], segments[index - 2]];
    if (parent === "kubepods") return podMatch(uid, undefined);
    if ((parent === "besteffort" || parent === "burstable") && grandparent === "kubepods") {
      return podMatch(uid, parent);
    }
  }
  return {};
}

/** One line of `/proc/<pid>/cgroup`. */
export interface ProcCgroupEntry {
  /** Hierarchy id; 0 is the cgroup v2 (unified) hierarchy. */
  hierarchyId: number;
  /** Controllers bound to the hierarchy (`["cpu", "cpuacct"]`, `["name=systemd"]`); `[]` for v2. */
  controllers: string[];
  /** The cgroup path, relative to the reader's cgroup namespace root, without ` (deleted)`. */
  path: string;
  /** True when the kernel marked the v2 cgroup as removed (` (deleted)`, a dying process). */
  deleted: boolean;
}

const DELETED_SUFFIX = " (deleted)";

/**
 * Parses the content of `/proc/<pid>/cgroup` (cgroups(7)): one `hierarchy-id:controllers:path`
 * line per hierarchy; the v2 line is `0::/path`. Paths may contain `:`.
 *
 * @param text The file's content; blank lines are skipped.
 * @returns One entry per line, in file order.
 * @throws {SyntaxError} A line is not `hierarchy-id:controllers:path`.
 *
 * @example
 * ```ts
 * parseProcCgroup("4:memory:/docker/x\n0::/docker/x\n");
 * // [{ hierarchyId: 4, controllers: ["memory"], path: "/docker/x", deleted: false }, …]
 * ```
 */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const match = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!match) {
      throw new SyntaxError(
        `Cannot parse cgroup line ${index + 1} "${
          line.slice(0, 200)
        }": expected "hierarchy-id:controllers:path"`,
      );
    }
    const [, id = "", controllers = "", rawPath = ""] = match;
    const deleted = rawPath.endsWith(DELETED_SUFFIX);
    entries.push({
      hierarchyId: Number(id),
      controllers: controllers === "" ? [] : controllers.split(","),
      path: deleted ? rawPath.slice(0, -DELETED_SUFFIX.length) : rawPath,
      deleted,
    });
  }
  return entries;
}

/**
 * Returns the cgroup v2 path (the `0::` line) of `/proc/<pid>/cgroup` content.
 *
 * @param text The file's content.
 * @returns The path, e.g. `/k8s.io/<id>`; `undefined` on v1-only nodes.
 * @throws {SyntaxError} As {@linkcode parseProcCgroup}.
 */
export function unifiedCgroupPath(text: string): string | undefined {
  return parseProcCgroup(text).find((e) => e.hierarchyId === 0 && e.controllers.length === 0)
    ?.path;
}

/** How the node mounts cgroups: only v2, v1 controllers plus a v2 tree, or only v1. */
export type CgroupLayout = "v2" | "hybrid" | "v1";

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
}

/** Parses mountinfo (proc(5)) lines; mount points are octal-unescaped (`\040` is a space). */
function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const [left = "", right = ""] = line.split(" - ");
    const fields = left.split(" ");
    const [fsType] = right.split(" ");
    const [root, mountPoint] = [fields[3], fields[4]];
    if (!fsType || root === undefined || mountPoint === undefined) continue;
    mounts.push({ root: unescapeOctal(root), mountPoint: unescapeOctal(mountPoint), fsType });
  }
  // A later mount on the same mount point hides the earlier one.
  return mounts.filter((m, i) => !mounts.slice(i + 1).some((l) => l.mountPoint === m.mountPoint));
}

function unescapeOctal(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

function readSelfMountinfo(): string {
  try {
    return Deno.readTextFileSync("/proc/self/mountinfo");
  } catch (error) {
    throw new NotSupportedError(
      `Cannot read mount table "/proc/self/mountinfo": ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Finds where the cgroup v2 filesystem is mounted.
 *
 * @param mountinfoText Content of a mountinfo file (proc(5)); default: this process's
 *   `/proc/self/mountinfo`, read synchronously (needs `--allow-read=/proc/self/mountinfo`).
 *   Under `--host-root`, pass the host's (`<host-root>/proc/1/mountinfo`) and prefix the
 *   result with the host root.
 * @returns The mount point: `/sys/fs/cgroup` on pure v2, `/sys/fs/cgroup/unified` on hybrid
 *   nodes; `undefined` when no cgroup2 filesystem is mounted (v1-only). A mount of the whole
 *   tree (root `/`) wins over a bind mount of a sub-tree.
 * @throws {NotSupportedError} The default mountinfo file cannot be read.
 */
export function findCgroupV2Root(mountinfoText: string = readSelfMountinfo()): string | undefined {
  const v2 = parseMountinfo(mountinfoText).filter((m) => m.fsType === "cgroup2");
  return (v2.find((m) => m.root === "/") ?? v2[0])?.mountPoint;
}

/**
 * Tells how the node mounts cgroups.
 *
 * @param mountinfoText Content of a mountinfo file; default: `/proc/self/mountinfo`.
 * @returns `v2` (only cgroup2), `hybrid` (v1 controllers and a cgroup2 tree, systemd's
 *   `/sys/fs/cgroup/unified`) or `v1` (no cgroup2).
 * @throws {NotSupportedError} No cgroup filesystem is mounted, or the default mountinfo file
 *   cannot be read.
 */
export function cgroupLayout(mountinfoText: string = readSelfMountinfo()): CgroupLayout {
  const types = new Set(parseMountinfo(mountinfoText).map((m) => m.fsType));
  const [v1, v2] = [types.has("cgroup"), types.has("cgroup2")];
  if (!v1 && !v2) throw new NotSupportedError("Cannot find a mounted cgroup filesystem");
  return v2 ? (v1 ? "hybrid" : "v2") : "v1";
}

/**
 * Returns the cgroup id of a cgroup v2 directory: its inode number. This is the id
 * `bpf_get_current_cgroup_id()` returns (kernel ≥ 4.18) on 64-bit kernels, where the kernfs
 * node id is the inode number (kernel 5.5, "kernfs: use 64bit inos if ino_t is 64bit").
 * Exact below 2^53: `Deno.stat` gives `ino` as a number.
 *
 * @param v2RelativePath The path inside the v2 tree, e.g. `/k8s.io/<id>` from
 *   {@linkcode unifiedCgroupPath}; must start with `/` and not leave the tree.
 * @param root The v2 tree's directory; default {@linkcode findCgroupV2Root}. Under
 *   `--host-root`, pass the host's tree (`<host-root>/sys/fs/cgroup`).
 * @returns The id, or `undefined` when the directory does not exist (the cgroup is gone).
 * @throws {RangeError} The path is relative or has `..` segments (a path outside the
 *   reader's cgroup namespace shows as `/../…`).
 * @throws {NotSupportedError} No cgroup v2 tree is mounted.
 * @throws {Error} Stat fails otherwise (e.g. `Deno.errors.PermissionDenied`), wrapped.
 */
export async function cgroupIdOfPath(
  v2RelativePath: string,
  root: string | undefined = findCgroupV2Root(),
): Promise<bigint | undefined> {
  if (!v2RelativePath.startsWith("/") || v2RelativePath.split("/").includes("..")) {
    throw new RangeError(
      `Cannot use cgroup path "${v2RelativePath}": expected an absolute path inside the cgroup v2 tree`,
    );
  }
  if (root === undefined) {
    throw new NotSupportedError("Cannot find the cgroup v2 tree: no cgroup2 filesystem mounted");
  }
  const directory = join(root, v2RelativePath);
  try {
    const info = await Deno.stat(directory);
    return info.isDirectory && info.ino !== null ? BigInt(info.ino) : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot stat cgroup directory "${directory}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}
