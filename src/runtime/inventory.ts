/**
 * The container inventory: joins one runtime's CRI answers (pod sandboxes, containers,
 * verbose container status, image status) with /proc and the cgroup tree into
 * {@linkcode ContainerRecord}s.
 *
 * Cost: one ListPodSandbox, one ListContainers, one ContainerStatus per container, one
 * ImageStatus per distinct image whose CRI fields carry no image id (cached for the
 * inventory's life).
 *
 * @module
 */
import type { CriClient } from "./cri_client.ts";
import type { CriContainer, CriPodSandbox } from "./cri_types.ts";
import { cgroupsPathToCgroupPath, parseContainerInfo } from "./container_info.ts";
import {
  buildContainerRecord,
  type ContainerProcessFacts,
  type ContainerRecord,
  imageIdOfContainer,
  stripImageScheme,
} from "./record.ts";
import { ProcessFactsReader } from "./process_facts.ts";
import { NotFoundError } from "../errors.ts";

/** Options of {@linkcode ContainerInventory}. */
export interface InventoryOptions {
  /** Runtime name from CRI Version. */
  runtimeName: string;
  /** `unix:///...` endpoint, recorded in each record. */
  runtimeEndpoint: string;
  /** `--host-root`: where the host's / is mounted. Default "/". */
  hostRoot?: string;
}

/** Reads container records from one CRI runtime. */
export class ContainerInventory {
  readonly #client: CriClient;
  readonly #options: InventoryOptions;
  readonly #facts: ProcessFactsReader;
  readonly #imageIds = new Map<string, Promise<string | undefined>>();

  constructor(client: CriClient, options: InventoryOptions) {
    this.#client = client;
    this.#options = options;
    this.#facts = new ProcessFactsReader(options.hostRoot);
  }

  /** The cgroup v2 tree's directory as this inventory reads it (under `--host-root`). */
  get cgroupRoot(): string | undefined {
    return this.#facts.cgroupRoot;
  }

  /** The CRI client this inventory reads from. */
  get client(): CriClient {
    return this.#client;
  }

  /**
   * Every container of the runtime, with its pod. Containers removed between the list and
   * their status call are left out.
   * @throws {RuntimeUnavailableError|PermissionError} from the CRI calls.
   */
  async list(): Promise<ContainerRecord[]> {
    const [sandboxes, containers] = await Promise.all([
      this.#client.listPodSandboxes(),
      this.#client.listContainers(),
    ]);
    const byId = new Map(sandboxes.map((sandbox) => [sandbox.id, sandbox]));
    const records = await Promise.all(
      containers.map((container) =>
        this.#record(container, byId.get(container.podSandboxId)).catch((error) => {
          if (error instanceof NotFoundError) return undefined; // removed meanwhile
          throw error;
        })
      ),
    );
    return records.filter((record): record is ContainerRecord => record !== undefined);
  }

  /**
   * One container by full id.
   * @throws {NotFoundError} when the runtime has no such container.
   */
  async get(containerId: string): Promise<ContainerRecord> {
    const containers = await this.#client.listContainers();
    const container = containers.find((c) => c.id === containerId);
    if (!container) {
      throw new NotFoundError(`Cannot find container "${containerId}" in the runtime`);
    }
    const sandboxes = await this.#client.listPodSandboxes();
    return this.#record(container, sandboxes.find((s) => s.id === container.podSandboxId));
  }

  async #record(
    listed: CriContainer,
    sandbox: CriPodSandbox | undefined,
  ): Promise<ContainerRecord> {
    const response = await this.#client.containerStatus(listed.id);
    const status = response.status;
    const container = status ? { ...status, podSandboxId: listed.podSandboxId } : listed;
    const info = parseContainerInfo(response.info);
    // A created container already has its init process (runc waits before the exec).
    const live = container.state === "CONTAINER_RUNNING" || container.state === "CONTAINER_CREATED";
    const process = live ? await this.#processFacts(info.pid, info.specCgroupsPath) : {};
    if (!live && info.specCgroupsPath) {
      process.cgroupPath = cgroupsPathToCgroupPath(info.specCgroupsPath);
    }
    return buildContainerRecord({
      container,
      sandbox,
      runtimeName: this.#options.runtimeName,
      runtimeEndpoint: this.#options.runtimeEndpoint,
      listed,
      resolvedImageId: imageIdOfContainer(container, listed)
        ? undefined
        : await this.#resolveImageId(stripImageScheme(container.imageRef) || listed.image?.image),
      process,
    });
  }

  /** Pid from the verbose info, the rest through {@linkcode ProcessFactsReader}. */
  #processFacts(
    pid: number | undefined,
    specCgroupsPath: string | undefined,
  ): Promise<ContainerProcessFacts> {
    return this.#facts.read(
      pid,
      specCgroupsPath ? cgroupsPathToCgroupPath(specCgroupsPath) : undefined,
    );
  }

  /**
   * Id of an image whose CRI fields carry no id (a digest reference), through ImageStatus;
   * cached. Never a name: the record's image is the one the pod spec asked for.
   */
  #resolveImageId(image: string | undefined): Promise<string | undefined> {
    if (!image) return Promise.resolve(undefined);
    let pending = this.#imageIds.get(image);
    if (!pending) {
      pending = this.#client.imageStatus(image).then(
        (response) => response.image?.id,
        () => undefined,
      );
      this.#imageIds.set(image, pending);
    }
    return pending;
  }
}
