/**
 * Docker Engine (dockerd) as a {@linkcode RuntimeClient}: containers listed with
 * `GET /containers/json?all=true` (exited ones included), each read with
 * `GET /containers/{id}/json`, mapped by `docker_record.ts`; process facts from `/proc` and
 * the cgroup tree as for every runtime.
 *
 * Cost of a listing: one list call, one inspect per container, `GET /info` once per client
 * (the cgroup driver, for exited containers' cgroup paths).
 *
 * @module
 */
import type { RuntimeClient, RuntimeVersion, SandboxRecord } from "./client.ts";
import { DockerApi } from "./docker_api.ts";
import {
  buildDockerRecord,
  dockerCgroupPath,
  type DockerContainerInspect,
  dockerPidOf,
  dockerPodOf,
  dockerTimeToNs,
  isDockerSandbox,
} from "./docker_record.ts";
import type { ContainerRecord } from "./record.ts";
import { ProcessFactsReader } from "./process_facts.ts";
import { DOCKER_SANDBOX_ID_LABEL } from "./labels.ts";
import { podmanEngineOf } from "./podman_record.ts";
import { NotFoundError } from "../errors.ts";
import { expectList, expectObjectWithId } from "./json_shape.ts";

/** Options of {@linkcode DockerClient}. */
export interface DockerClientOptions {
  /** Deadline of each Engine API call, in milliseconds. */
  timeoutMs?: number;
  /** `--host-root`: where the host's `/` is mounted. Default `/`. */
  hostRoot?: string;
}

/**
 * A Docker Engine API socket behind the {@linkcode RuntimeClient} interface. Records have
 * `runtime: "docker"`; `pod` is null unless cri-dockerd's labels name one.
 *
 * @example
 * ```ts
 * using docker = new DockerClient("/var/run/docker.sock");
 * const web = (await docker.list()).find((r) => r.name === "web");
 * ```
 */
export class DockerClient implements RuntimeClient {
  readonly kind = "docker";
  readonly socketPath: string;
  readonly endpoint: string;
  readonly #api: DockerApi;
  readonly #facts: ProcessFactsReader;

  /** @param socketPath the daemon's unix socket */
  constructor(socketPath: string, options: DockerClientOptions = {}) {
    this.socketPath = socketPath;
    this.endpoint = `unix://${socketPath}`;
    this.#api = new DockerApi(socketPath, { timeoutMs: options.timeoutMs });
    this.#facts = new ProcessFactsReader(options.hostRoot);
  }

  get cgroupRoot(): string | undefined {
    return this.#facts.cgroupRoot;
  }

  /**
   * `GET /version`: the engine's version and the negotiated API version. A Podman service
   * behind this socket (`podman-docker` links `/run/docker.sock` to Podman's, `DOCKER_HOST`
   * may name Podman's) says so: kind `podman` with Podman's versions, so that discovery
   * opens the Podman client for it.
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  async version(): Promise<RuntimeVersion> {
    const { version, apiVersion } = await this.#api.negotiate();
    const podman = podmanEngineOf(version);
    if (podman) return { kind: "podman", name: "podman", ...podman };
    return { kind: "docker", name: "docker", version: version.Version ?? "", apiVersion };
  }

  /**
   * Every container but cri-dockerd's pod sandboxes (which are pods, not containers).
   * @throws {RuntimeUnavailableError} also when the list is no list of objects with a string
   *   `Id`, or an inspect answer no object with one
   */
  async list(): Promise<ContainerRecord[]> {
    const ids = await this.#api.get(
      "/containers/json?all=true",
      (answer) => expectList(answer, (entry) => expectObjectWithId(entry).Id),
    );
    const inspected = await Promise.all(ids.map((id) => this.#api.inspectIfPresent(id)));
    const byId = new Map(
      inspected.filter((i): i is DockerContainerInspect => i !== undefined).map((i) => [i.Id, i]),
    );
    const records = await Promise.all(
      [...byId.values()].filter((i) => !isDockerSandbox(i)).map((inspect) =>
        this.#record(inspect, byId.get(inspect.Config?.Labels?.[DOCKER_SANDBOX_ID_LABEL] ?? ""))
      ),
    );
    return records;
  }

  /** One container by full id (an id prefix or a name is not enough). */
  async get(id: string): Promise<ContainerRecord> {
    const inspect = await this.#api.inspectContainer(id);
    if (inspect.Id !== id || isDockerSandbox(inspect)) {
      throw new NotFoundError(`Cannot find container "${id}" in the runtime`);
    }
    const sandboxId = inspect.Config?.Labels?.[DOCKER_SANDBOX_ID_LABEL];
    const sandbox = sandboxId ? await this.#api.inspectIfPresent(sandboxId) : undefined;
    return this.#record(inspect, sandbox);
  }

  async finishedAtNs(id: string): Promise<bigint | undefined> {
    const inspect = await this.#api.inspectContainer(id);
    return inspect.State?.Running ? undefined : dockerTimeToNs(inspect.State?.FinishedAt);
  }

  /** cri-dockerd's pod sandbox container with this id, as a pod sandbox. */
  async sandbox(id: string): Promise<SandboxRecord | undefined> {
    const inspect = await this.#api.inspectIfPresent(id);
    if (!inspect || inspect.Id !== id || !isDockerSandbox(inspect)) return undefined;
    const labels = inspect.Config?.Labels ?? {};
    const pod = dockerPodOf(labels, id, labels);
    if (!pod) return undefined;
    const facts = await this.#facts.read(dockerPidOf(inspect), await this.#recordedPath(inspect));
    const found: SandboxRecord = {
      id,
      pod,
      cgroupPaths: facts.cgroupPath ? [facts.cgroupPath] : [],
    };
    if (facts.cgroupId !== undefined) found.cgroupId = facts.cgroupId;
    if (facts.pid !== undefined) found.pid = facts.pid;
    return found;
  }

  async #record(
    inspect: DockerContainerInspect,
    sandbox: DockerContainerInspect | undefined,
  ): Promise<ContainerRecord> {
    const process = await this.#facts.read(dockerPidOf(inspect), await this.#recordedPath(inspect));
    return buildDockerRecord({
      inspect,
      ...(sandbox ? { sandbox } : {}),
      runtimeEndpoint: this.endpoint,
      process,
    });
  }

  /** The cgroup path the daemon gives the container, from its parent and cgroup driver. */
  async #recordedPath(inspect: DockerContainerInspect): Promise<string | undefined> {
    return dockerCgroupPath(
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
