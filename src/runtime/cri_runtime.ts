/**
 * The CRI runtimes (containerd, CRI-O, cri-dockerd, k3s/RKE2/microk8s containerd) as a
 * {@linkcode RuntimeClient}: a thin adapter over {@linkcode CriClient} (the gRPC calls) and
 * {@linkcode ContainerInventory} (the join into records). The runtimes differ only in socket
 * path and verbose info, both handled below this layer.
 *
 * @module
 */
import type { RuntimeClient, RuntimeVersion, SandboxRecord } from "./client.ts";
import { CriClient } from "./cri_client.ts";
import { ContainerInventory } from "./inventory.ts";
import type { ContainerRecord } from "./record.ts";
import type { CriPodSandbox } from "./cri_types.ts";
import { podRecordOfSandbox } from "./record.ts";
import { cgroupsPathToCgroupPath, parseContainerInfo } from "./container_info.ts";
import { cgroupIdOfPath } from "./cgroup.ts";
import { NotFoundError } from "../errors.ts";

/** Options of {@linkcode CriRuntimeClient}. */
export interface CriRuntimeOptions {
  /** Deadline of each CRI call, in milliseconds. */
  timeoutMs?: number;
  /** `--host-root`: where the host's `/` is mounted. Default `/`. */
  hostRoot?: string;
  /** Runtime name from CRI Version, recorded in each record (`containerd`, `cri-o`, ...). */
  runtimeName: string;
}

/**
 * A CRI runtime behind the {@linkcode RuntimeClient} interface.
 *
 * @example
 * ```ts
 * using runtime = new CriRuntimeClient("/run/containerd/containerd.sock", { runtimeName: "containerd" });
 * const records = await runtime.list();
 * ```
 */
export class CriRuntimeClient implements RuntimeClient {
  readonly kind = "cri";
  readonly socketPath: string;
  readonly endpoint: string;
  /** The gRPC client (for callers that speak CRI itself: the lab, tests). */
  readonly cri: CriClient;
  readonly #inventory: ContainerInventory;
  /** Ready sandboxes whose pid is known, by id (see {@linkcode sandboxes}). */
  #ready = new Map<string, SandboxRecord>();

  /**
   * @param socketPath the CRI socket's path
   */
  constructor(socketPath: string, options: CriRuntimeOptions) {
    this.socketPath = socketPath;
    this.endpoint = `unix://${socketPath}`;
    this.cri = new CriClient(socketPath, { timeoutMs: options.timeoutMs });
    this.#inventory = new ContainerInventory(this.cri, {
      runtimeName: options.runtimeName,
      runtimeEndpoint: this.endpoint,
      ...(options.hostRoot ? { hostRoot: options.hostRoot } : {}),
    });
  }

  get cgroupRoot(): string | undefined {
    return this.#inventory.cgroupRoot;
  }

  /** CRI Version. @throws {RuntimeUnavailableError|PermissionError} */
  async version(): Promise<RuntimeVersion> {
    const version = await this.cri.version();
    return {
      kind: "cri",
      name: version.runtimeName,
      version: version.runtimeVersion,
      apiVersion: version.runtimeApiVersion,
    };
  }

  list(): Promise<ContainerRecord[]> {
    return this.#inventory.list();
  }

  get(id: string): Promise<ContainerRecord> {
    return this.#inventory.get(id);
  }

  async finishedAtNs(id: string): Promise<bigint | undefined> {
    const finished = (await this.cri.containerStatus(id)).status?.finishedAt;
    return finished && BigInt(finished) > 0n ? BigInt(finished) : undefined;
  }

  /** The sandbox from ListPodSandbox, its cgroup from verbose PodSandboxStatus. */
  async sandbox(id: string): Promise<SandboxRecord | undefined> {
    const sandbox = (await this.cri.listPodSandboxes()).find((s) => s.id === id);
    return sandbox && await this.#sandboxOf(sandbox);
  }

  /**
   * The ready pod sandboxes, each with its pause's pid: one ListPodSandbox, and one verbose
   * PodSandboxStatus per sandbox not seen before (a sandbox's pid never changes).
   */
  async sandboxes(): Promise<SandboxRecord[]> {
    const ready = (await this.cri.listPodSandboxes()).filter((s) => s.state === "SANDBOX_READY");
    const known = new Map<string, SandboxRecord>();
    const found = await Promise.all(ready.map(async (sandbox) => {
      const record = this.#ready.get(sandbox.id) ?? await this.#sandboxOf(sandbox);
      if (record.pid !== undefined) known.set(sandbox.id, record);
      return record;
    }));
    this.#ready = known;
    return found.filter((record) => record.pid !== undefined);
  }

  async #sandboxOf(sandbox: CriPodSandbox): Promise<SandboxRecord> {
    const id = sandbox.id;
    const response = await this.cri.call<{ info?: Record<string, string> }>(
      "RuntimeService",
      "PodSandboxStatus",
      { podSandboxId: id, verbose: true },
    ).catch((error): { info?: Record<string, string> } => {
      if (error instanceof NotFoundError) return {};
      throw error;
    });
    const found: SandboxRecord = { id, pod: podRecordOfSandbox(sandbox), cgroupPaths: [] };
    const { specCgroupsPath, pid } = parseContainerInfo(response.info);
    if (pid !== undefined) found.pid = pid;
    if (!specCgroupsPath) return found;
    const expanded = cgroupsPathToCgroupPath(specCgroupsPath);
    found.cgroupPaths = [
      specCgroupsPath,
      ...(expanded && expanded !== specCgroupsPath ? [expanded] : []),
    ];
    if (expanded && this.cgroupRoot) {
      const cgroupId = await cgroupIdOfPath(expanded, this.cgroupRoot).catch(() => undefined);
      if (cgroupId !== undefined) found.cgroupId = cgroupId;
    }
    return found;
  }

  close(): void {
    this.cri.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
