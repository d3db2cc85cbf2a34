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
 * | `slice:prefix:name` | runc systemd driver's `cgroupsPath` (runc `docs/systemd.md`): the unit is `<prefix>-<name>.scope` in `<slice>`. containerd CRI writes `<slice>:cri-containerd:<id>`, CRI-O `<slice>:crio:<id>`, Docker `system.slice:docker:<id>`, Podman `machine.slice:libpod:<id>` |
 * | `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, `libpod-<id>.scope` | the scope units those `cgroupsPath`s become |
 * | `crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope` | the conmon monitor of CRI-O and Podman: a helper process, not the container |
 * | `<scope>/container` | crun's systemd driver: processes live in a `container` sub-cgroup of the scope (crun annotation `run.oci.systemd.subgroup`; runc issue #4072) |
 * | `/docker/<id>` | dockerd cgroupfs driver (`daemon/oci_linux.go`, default cgroup parent `/docker`) |
 * | `/libpod_parent/libpod-<id>` | Podman cgroupfs driver (libpod `CgroupfsDefaultCgroupParent`) |
 * | `/k8s.io/<id>` | containerd CRI given no cgroup parent: the containerd namespace is the parent (seen on this lab, containerd 1.6.20) |
 *
 * The container id found is always the outermost one in the path: the node's runtime knows
 * that container, while deeper cgroups (crun's `container`, systemd inside a container, a
 * runtime nested in a container) belong to it.
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

const ID = "[0-9a-f]{64}";

/** One row of the container table: a path segment and the runtime it shows. */
interface ContainerPattern {
  /** Matches one whole path segment; the `id` group is the container id. */
  segment: RegExp;
  /** When set, the segment before must match too. */
  parent?: RegExp;
  /** The runtime shown, or `null` for a runtime helper's cgroup that is not a container. */
  runtime: CgroupRuntime | null;
}

/** Tried in order on each segment, outermost segment first; the first match decides. */
const CONTAINER_PATTERNS: readonly ContainerPattern[] = [
  // conmon, the container monitor of CRI-O and Podman; listed before crio-/libpod- ids.
  { segment: new RegExp(`^crio-conmon-${ID}(?:\\.scope)?$`), runtime: null },
  { segment: new RegExp(`^libpod-conmon-${ID}(?:\\.scope)?$`), runtime: null },
  // Systemd scopes: `<prefix>-<id>.scope`; CRI-O and Podman use the same name without
  // `.scope` under their cgroupfs drivers.
  { segment: new RegExp(`^cri-containerd-(?<id>${ID})\\.scope$`), runtime: "containerd" },
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

/** One row of the pod table: a pod-level segment; groups `uid` and `qos` (none: guaranteed). */
interface PodPattern {
  segment: RegExp;
  /** When set, the path before the segment must match; its `qos` group counts too. */
  parentPath?: RegExp;
}

const POD_PATTERNS: readonly PodPattern[] = [
  // Systemd driver; kubelet `--cgroup-root` may add a prefix (kind: `kubelet-kubepods-...`).
  {
    segment: new RegExp(
      `^(?:[\\w.-]*-)?kubepods(?:-(?<qos>${QOS}))?-pod(?<uid>${UID_UNDERSCORED})\\.slice$`,
    ),
  },
  // Cgroupfs driver: `pod<uid>` right under `kubepods` or `kubepods/<qos>`.
  {
    segment: new RegExp(`^pod(?<uid>${UID_DASHED})$`),
    parentPath: new RegExp(`(?:^|/)kubepods(?:/(?<qos>${QOS}))?$`),
  },
];

/** The runc systemd driver's `cgroupsPath` form `slice:prefix:name`. */
const SYSTEMD_CGROUPS_PATH = /^(?<slice>[^/:]*):(?<prefix>[^/:]*):(?<name>[^/:]+)$/;

/**
 * Finds the container a cgroup path belongs to.
 *
 * @param path An absolute cgroup path as `/proc/<pid>/cgroup` shows it without the
 *   `hierarchy-id:controllers:` prefix (see {@linkcode unifiedCgroupPath}), or an OCI
 *   `cgroupsPath` in the runc systemd form `slice:prefix:name`. Paths are relative to the
 *   reader's cgroup namespace root; read them from the host's cgroup namespace.
 * @returns The runtime, container id and, under kubelet, pod uid and QoS class; `undefined`
 *   when the path is not inside a container: the root, a service, a login session, a
 *   pod-level cgroup, conmon's scope, anything not starting with `/`, and ids that are not
 *   exactly 64 lowercase hex digits.
 *
 * @example
 * ```ts
 * parseCgroupPath("/docker/acac86c0e609ca906f632b0e2dacccb2b77d22b0621f20ebece1a4835b93f6f0");
 * // { runtime: "docker", containerId: "acac86c0…93f6f0" }
 * ```
 */
export function parseCgroupPath(path: string): CgroupContainerRef | undefined {
  const systemd = SYSTEMD_CGROUPS_PATH.exec(path)?.groups;
  if (systemd) {
    const { slice = "", prefix = "", name = "" } = systemd;
    const unit = name.endsWith(".slice") ? name : `${prefix ? `${prefix}-` : ""}${name}.scope`;
    return parseCgroupPath(`/${slice}/${unit}`);
  }
  if (!path.startsWith("/")) return undefined;
  const segments = path.split("/").filter((segment) => segment !== "");
  for (const [index, segment] of segments.entries()) {
    const found = matchContainer(segment, segments[index - 1]);
    if (found === undefined) continue;
    if (found === null) return undefined;
    return { ...found, ...findPod(segments.slice(0, index)) };
  }
  return undefined;
}

function matchContainer(
  segment: string,
  parent: string | undefined,
): Pick<CgroupContainerRef, "runtime" | "containerId"> | null | undefined {
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

function findPod(segments: string[]): Pick<CgroupContainerRef, "podUid" | "qosClass"> {
  for (const [index, segment] of segments.entries()) {
    for (const pattern of POD_PATTERNS) {
      const match = pattern.segment.exec(segment);
      if (!match?.groups?.uid) continue;
      const parent = pattern.parentPath?.exec(segments.slice(0, index).join("/"));
      if (pattern.parentPath && !parent) continue;
      const qos = match.groups.qos ?? parent?.groups?.qos;
      return {
        podUid: match.groups.uid.replaceAll("_", "-"),
        qosClass: qos === "besteffort" || qos === "burstable" ? qos : "guaranteed",
      };
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
