/**
 * Parses the verbose `info` of a CRI `ContainerStatus` answer: the free-form JSON document
 * under key `info` that runtimes fill differently (see tests/testdata/cri/):
 *
 * | runtime            | pid   | cgroup path                                   |
 * |--------------------|-------|-----------------------------------------------|
 * | containerd 1.6/1.7 | `pid` | `runtimeSpec.linux.cgroupsPath`               |
 * | CRI-O              | `pid` | `runtimeSpec.linux.cgroupsPath` (systemd form) |
 * | cri-dockerd        | `pid` | absent: read `/proc/<pid>/cgroup`             |
 *
 * @module
 */

/** What the verbose info tells about a container's processes. */
export interface ContainerProcessInfo {
  /** Host pid of the container's init process; undefined when not running or not given. */
  pid?: number;
  /** The OCI spec's `linux.cgroupsPath`, as the runtime wrote it (cgroupfs or systemd form). */
  specCgroupsPath?: string;
}

/**
 * Extracts pid and cgroupsPath from `ContainerStatusResponse.info`. Never throws: garbage or
 * missing info gives an empty result (the caller falls back to /proc).
 */
export function parseContainerInfo(info: Record<string, string> | undefined): ContainerProcessInfo {
  const text = info?.["info"];
  if (!text) return {};
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof document !== "object" || document === null) return {};
  const record = document as {
    pid?: unknown;
    runtimeSpec?: { linux?: { cgroupsPath?: unknown } };
  };
  const result: ContainerProcessInfo = {};
  if (typeof record.pid === "number" && Number.isInteger(record.pid) && record.pid > 0) {
    result.pid = record.pid;
  }
  const cgroupsPath = record.runtimeSpec?.linux?.cgroupsPath;
  if (typeof cgroupsPath === "string" && cgroupsPath !== "") {
    result.specCgroupsPath = cgroupsPath;
  }
  return result;
}

/**
 * Turns an OCI `linux.cgroupsPath` into the cgroup's path below the cgroup root.
 *
 * - cgroupfs form (starts with "/"): returned as is.
 * - systemd form `slice:prefix:name` (runc's systemd driver, libcontainer
 *   `cgroups/systemd/common.go`): the unit is `<prefix>-<name>.scope` inside `slice`, and a
 *   slice `a-b-c.slice` nests as `/a.slice/a-b.slice/a-b-c.slice` (systemd.slice(5)).
 *
 * Returns undefined for anything else.
 * @example systemdCgroupsPathToPath("kubepods-besteffort-pod12.slice:cri-containerd:abc")
 * // "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
 */
export function cgroupsPathToCgroupPath(cgroupsPath: string): string | undefined {
  if (cgroupsPath.startsWith("/")) return cgroupsPath;
  const parts = cgroupsPath.split(":");
  if (parts.length !== 3) return undefined;
  const [slice, prefix, name] = parts as [string, string, string];
  if (!name) return undefined;
  const unit = name.endsWith(".slice") ? name : `${prefix ? `${prefix}-` : ""}${name}.scope`;
  return `${expandSlice(slice || "-.slice")}/${unit}`;
}

function expandSlice(slice: string): string {
  if (slice === "-.slice") return "";
  const base = slice.replace(/\.slice$/, "");
  const pieces = base.split("-");
  let path = "";
  for (let i = 1; i <= pieces.length; i++) {
    path += `/${pieces.slice(0, i).join("-")}.slice`;
  }
  return path;
}
