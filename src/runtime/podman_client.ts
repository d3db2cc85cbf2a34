/**
 * Podman's service (`podman system service`) as a {@linkcode RuntimeClient}: containers read
 * through its Docker-compatible API with Docker's transport and mapping (`docker_api.ts`,
 * `docker_record.ts`), pods and infra containers through libpod's own API
 * (`podman_record.ts`); process facts from `/proc` and the cgroup tree as for every runtime.
 *
 * Cost of a listing: libpod's container list and pod list, one Docker-compatible inspect
 * per container, `GET /info` once per client (the cgroup manager, for exited containers'
 * cgroup paths). A `get` or `sandbox` asks libpod's list for that one id.
 *
 * @module
 */
import type { RuntimeClient, RuntimeVersion, SandboxRecord } from "./client.ts";
import { DockerApi } from "./docker_api.ts";
import { type DockerContainerInspect, dockerPidOf, dockerTimeToNs } from "./docker_record.ts";
import {
  buildPodmanRecord,
  type LibpodContainerEntry,
  type LibpodPodEntry,
  parseLibpodContainerEntry,
  parseLibpodPodEntry,
  podmanCgroupPath,
  podmanEngineOf,
  podmanPodOf,
} from "./podman_record.ts";
import { expectList } from "./json_shape.ts";
import type { ContainerRecord } from "./record.ts";
import { ProcessFactsReader } from "./process_facts.ts";
import { NotFoundError, RuntimeUnavailableError } from "../errors.ts";

/** Options of {@linkcode PodmanClient}. */
export interface PodmanClientOptions {
  /** Deadline of each API call, in milliseconds. */
  timeoutMs?: number;
  /** `--host-root`: where the host's `/` is mounted. Default `/`. */
  hostRoot?: string;
}

/**
 * A Podman service socket (rootful `/run/podman/podman.sock`, rootless
 * `$XDG_RUNTIME_DIR/podman/podman.sock`) behind the {@linkcode RuntimeClient} interface.
 * Records have `runtime: "podman"`; `pod` is the Podman pod (namespace `podman`) or null.
 *
 * Errors: as {@linkcode DockerApi}'s, naming the Podman socket; `version()` on a socket that
 * answers the Docker Engine API but is not Podman throws a
 * {@linkcode RuntimeUnavailableError} saying so.
 *
 * @example
 * ```ts
 * using podman = new PodmanClient("/run/podman/podman.sock");
 * const api = (await podman.list()).find((r) => r.name === "api");
 * ```
 */
export class PodmanClient implements RuntimeClient {
  readonly kind = "podman";
  readonly socketPath: string;
  readonly endpoint: string;
  readonly #api: DockerApi;
  readonly #facts: ProcessFactsReader;
  #engine: Promise<{ version: string; apiVersion: string }> | undefined;

  /** @param socketPath the service's unix socket */
  constructor(socketPath: string, options: PodmanClientOptions = {}) {
    this.socketPath = socketPath;
    this.endpoint = `unix://${socketPath}`;
    this.#api = new DockerApi(socketPath, { timeoutMs: options.timeoutMs, service: "Podman" });
    this.#facts = new ProcessFactsReader(options.hostRoot);
  }

  get cgroupRoot(): string | undefined {
    return this.#facts.cgroupRoot;
  }

  /**
   * `GET /version`: Podman's version and its libpod API version (`podman version`'s "API
   * Version").
   * @throws {RuntimeUnavailableError} when the socket is no Podman service
   * @throws {RuntimeUnavailableError|PermissionError} when it cannot be asked
   */
  async version(): Promise<RuntimeVersion> {
    const { version, apiVersion } = await this.#engineInfo();
    return { kind: "podman", name: "podman", version, apiVersion };
  }

  /**
   * Every container but pods' infra containers (which are pod sandboxes).
   * @throws {RuntimeUnavailableError} also when libpod's container or pod list is no list of
   *   objects with a string `Id`, or an inspect answer no object with one
   */
  async list(): Promise<ContainerRecord[]> {
    const [entries, pods] = await Promise.all([
      this.#libpod("/containers/json?all=true", readContainerList),
      this.#libpod("/pods/json", readPodList),
    ]);
    const podById = new Map(pods.map((pod) => [pod.Id, pod]));
    const records = await Promise.all(
      entries.filter((entry) => !entry.IsInfra).map(async (entry) => {
        const inspect = await this.#api.inspectIfPresent(entry.Id);
        return inspect && this.#record(inspect, entry, podById.get(entry.Pod ?? ""));
      }),
    );
    return records.filter((r): r is ContainerRecord => r !== undefined);
  }

  /** One container by full id (an id prefix or a name is not enough). */
  async get(id: string): Promise<ContainerRecord> {
    const entry = await this.#entry(id);
    if (!entry || entry.IsInfra) {
      throw new NotFoundError(`Cannot find container "${id}" in the runtime`);
    }
    const inspect = await this.#api.inspectContainer(id);
    return this.#record(inspect, entry, entry.Pod ? await this.#pod(entry.Pod) : undefined);
  }

  async finishedAtNs(id: string): Promise<bigint | undefined> {
    const inspect = await this.#api.inspectContainer(id);
    return inspect.State?.Running ? undefined : dockerTimeToNs(inspect.State?.FinishedAt);
  }

  /** The Podman pod whose infra container has this id, as a pod sandbox. */
  async sandbox(id: string): Promise<SandboxRecord | undefined> {
    const entry = await this.#entry(id);
    if (!entry?.IsInfra || !entry.Pod) return undefined;
    return await this.#sandboxOf(entry, await this.#pod(entry.Pod));
  }

  /** Every pod's running infra container, as its pod sandbox. */
  async sandboxes(): Promise<SandboxRecord[]> {
    const [entries, pods] = await Promise.all([
      this.#libpod("/containers/json?all=true", readContainerList),
      this.#libpod("/pods/json", readPodList),
    ]);
    const podById = new Map(pods.map((pod) => [pod.Id, pod]));
    const found = await Promise.all(
      entries.filter((entry) => entry.IsInfra && entry.Pod).map((entry) =>
        this.#sandboxOf(entry, podById.get(entry.Pod!))
      ),
    );
    return found.filter((s): s is SandboxRecord => s?.pid !== undefined);
  }

  /** The sandbox of an infra container's entry, with its init's pid while it runs. */
  async #sandboxOf(
    entry: LibpodContainerEntry,
    podEntry: LibpodPodEntry | undefined,
  ): Promise<SandboxRecord | undefined> {
    const pod = podmanPodOf(entry, podEntry);
    const inspect = await this.#api.inspectIfPresent(entry.Id);
    if (!pod || !inspect) return undefined;
    const facts = await this.#facts.read(dockerPidOf(inspect), await this.#recordedPath(inspect));
    const found: SandboxRecord = {
      id: entry.Id,
      pod,
      cgroupPaths: facts.cgroupPath ? [facts.cgroupPath] : [],
    };
    if (facts.cgroupId !== undefined) found.cgroupId = facts.cgroupId;
    if (facts.pid !== undefined) found.pid = facts.pid;
    return found;
  }

  /** `GET /version` once: Podman's version and libpod API version. */
  #engineInfo(): Promise<{ version: string; apiVersion: string }> {
    this.#engine ??= this.#api.negotiate().then(({ version }) => {
      const engine = podmanEngineOf(version);
      if (!engine) {
        throw new RuntimeUnavailableError(
          `Cannot use Podman socket "${this.socketPath}": it answers the Docker Engine API, but is not Podman (${
            version.Version ? `version ${version.Version}` : "no Podman Engine component"
          })`,
        );
      }
      return engine;
    });
    // A failed call is not kept: the next one asks again.
    this.#engine.catch(() => (this.#engine = undefined));
    return this.#engine;
  }

  /** `GET /v<libpod API>/libpod<path>`, the answer read by `read`. */
  async #libpod<T>(path: string, read: (answer: unknown) => T): Promise<T> {
    const { apiVersion } = await this.#engineInfo();
    return this.#api.getAt(`/v${apiVersion}/libpod${path}`, read);
  }

  /** libpod's list entry of the container with full id `id`, if any. */
  async #entry(id: string): Promise<LibpodContainerEntry | undefined> {
    const filters = encodeURIComponent(JSON.stringify({ id: [id] }));
    const entries = await this.#libpod(
      `/containers/json?all=true&filters=${filters}`,
      readContainerList,
    );
    // The id filter matches prefixes too.
    return entries.find((entry) => entry.Id === id);
  }

  /** libpod's list entry of the pod with id `podId`, if it still exists. */
  async #pod(podId: string): Promise<LibpodPodEntry | undefined> {
    const filters = encodeURIComponent(JSON.stringify({ id: [podId] }));
    const pods = await this.#libpod(`/pods/json?filters=${filters}`, readPodList);
    return pods.find((pod) => pod.Id === podId);
  }

  async #record(
    inspect: DockerContainerInspect,
    entry: LibpodContainerEntry,
    pod: LibpodPodEntry | undefined,
  ): Promise<ContainerRecord> {
    const process = await this.#facts.read(dockerPidOf(inspect), await this.#recordedPath(inspect));
    return buildPodmanRecord({
      inspect,
      entry,
      ...(pod ? { pod } : {}),
      runtimeEndpoint: this.endpoint,
      process,
    });
  }

  /** The cgroup path Podman gives the container, from its parent and cgroup manager. */
  async #recordedPath(inspect: DockerContainerInspect): Promise<string | undefined> {
    return podmanCgroupPath(
      inspect.Id,
      inspect.HostConfig?.CgroupParent,
      await this.#api.cgroupDriver(),
    );
  }

  close(): void {
    this.#api.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** libpod's container list, each entry read by {@linkcode parseLibpodContainerEntry}. */
function readContainerList(answer: unknown): LibpodContainerEntry[] {
  return expectList(answer, parseLibpodContainerEntry);
}

/** libpod's pod list, each entry read by {@linkcode parseLibpodPodEntry}. */
function readPodList(answer: unknown): LibpodPodEntry[] {
  return expectList(answer, parseLibpodPodEntry);
}
