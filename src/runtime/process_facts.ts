/**
 * Process facts of a container, read outside its runtime: its init's cgroup path from
 * `/proc/<pid>/cgroup`, its cgroup id from the v2 tree, its mount namespace from
 * `/proc/<pid>/ns/mnt`. Shared by every runtime client, so all records agree on these
 * fields whichever runtime answered.
 *
 * @module
 */
import { join } from "node:path";
import type { ContainerProcessFacts } from "./record.ts";
import { cgroupIdOfPath, findCgroupV2Root } from "./cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "./proc.ts";

/** Reads process facts under a host root. */
export class ProcessFactsReader {
  readonly procRoot: string;
  readonly #hostRoot: string;
  #cgroupRoot: { path: string | undefined } | undefined;

  /**
   * Reads nothing yet: a client is opened to probe a socket before crienrich knows it may
   * read `/proc` (Deno gates it behind --allow-all; see the PID namespace check).
   * @param hostRoot where the host's `/` is mounted (`--host-root`), default `/`
   */
  constructor(hostRoot = "/") {
    this.#hostRoot = hostRoot;
    this.procRoot = join(hostRoot, "proc");
  }

  /** The cgroup v2 tree's directory under the host root (found on first use), if any. */
  get cgroupRoot(): string | undefined {
    if (!this.#cgroupRoot) {
      const own = findCgroupV2Root();
      const root = this.#hostRoot;
      this.#cgroupRoot = { path: root === "/" || own === undefined ? own : join(root, own) };
    }
    return this.#cgroupRoot.path;
  }

  /**
   * Facts of a container whose init is `pid` (when running) and whose runtime recorded the
   * cgroup path `recordedPath` (below the cgroup root). The cgroup path is read from
   * `/proc/<pid>/cgroup` (where the processes really are: crun's `/container` sub-cgroup
   * included), else the recorded one; the cgroup id and mount namespace id from the
   * filesystem. Facts that cannot be read are left out; never throws.
   *
   * @param pid host pid of the container's init, undefined when not running
   * @param recordedPath the runtime's own idea of the cgroup path, when it has one
   */
  async read(
    pid: number | undefined,
    recordedPath: string | undefined,
  ): Promise<ContainerProcessFacts> {
    const facts: ContainerProcessFacts = {};
    if (pid !== undefined) {
      facts.pid = pid;
      const procPath = await cgroupPathOfPid(pid, this.procRoot).catch(() => undefined);
      // Inside a private cgroup namespace (a DaemonSet pod on cgroup v2) other processes'
      // paths read `/../../kubepods/...`: relative to a root we cannot see. The runtime's
      // absolute path is then the better source.
      facts.cgroupPath = procPath === undefined || (procPath.startsWith("/..") && recordedPath)
        ? recordedPath
        : procPath;
      facts.mntnsId = await mountNamespaceIdOfPid(pid, this.procRoot).catch(() => undefined);
    } else {
      facts.cgroupPath = recordedPath;
    }
    if (facts.cgroupPath === undefined) delete facts.cgroupPath;
    if (facts.mntnsId === undefined) delete facts.mntnsId;
    if (facts.cgroupPath && this.cgroupRoot) {
      const id = await cgroupIdOfPath(facts.cgroupPath, this.cgroupRoot).catch(() => undefined);
      if (id !== undefined) facts.cgroupId = id;
    }
    return facts;
  }
}
