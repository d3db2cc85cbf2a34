/**
 * containerd's own API as a {@linkcode RuntimeClient}: the containers of every containerd
 * namespace that no other API answers (`ctr run`, nerdctl, buildkit; not `k8s.io`, which is
 * CRI's, nor `moby`, which is Docker's: see {@linkcode CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE}).
 * gRPC on the same socket as containerd's CRI, through `@grpc/grpc-js` with the embedded
 * descriptor of `proto/containerd/` (nothing is read at run time). Every call carries a
 * deadline and the namespace as the request metadata `containerd-namespace` (containerd
 * `pkg/namespaces/grpc.go`: the key its server reads the namespace from).
 *
 * Cost of a listing: Namespaces/List once, then Containers/List and Tasks/List once per
 * namespace, all namespaces at once.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { translateGrpcError } from "./grpc_errors.ts";
import * as protoLoader from "@grpc/proto-loader";
import { containerdDescriptor } from "./containerd_descriptor.gen.ts";
import type { RuntimeClient, RuntimeVersion, SandboxRecord } from "./client.ts";
import type { ContainerRecord } from "./record.ts";
import { ProcessFactsReader } from "./process_facts.ts";
import { DEFAULT_CRI_TIMEOUT_MS } from "./cri_client.ts";
import {
  buildContainerdRecord,
  CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE,
  type ContainerdContainer,
  type ContainerdTask,
  containerdTimeToNs,
  containerOfTask,
  decodeOciSpec,
  isContainerdSandbox,
} from "./containerd_record.ts";
import { NotFoundError } from "../errors.ts";

/** The gRPC metadata key containerd takes the namespace of a request from. */
export const CONTAINERD_NAMESPACE_METADATA_KEY = "containerd-namespace";

type Callback = (error: grpc.ServiceError | null, response: unknown) => void;
type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: Callback,
) => void;
type ServiceClient = grpc.Client & Record<string, UnaryMethod>;
type ServiceConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => ServiceClient;

/** The services used, by their name in the descriptor. */
type ServiceName = "namespaces" | "containers" | "tasks" | "version";
const SERVICE_PATHS: Record<ServiceName, [string, string]> = {
  namespaces: ["namespaces", "Namespaces"],
  containers: ["containers", "Containers"],
  tasks: ["tasks", "Tasks"],
  version: ["version", "Version"],
};

let constructors: Record<ServiceName, ServiceConstructor> | undefined;

/** Loads the embedded descriptor once. */
function services(): Record<ServiceName, ServiceConstructor> {
  if (!constructors) {
    const definition = protoLoader.fromJSON(containerdDescriptor, {
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const root = (grpc.loadPackageDefinition(definition) as unknown as {
      containerd: { services: Record<string, { v1: Record<string, ServiceConstructor> }> };
    }).containerd.services;
    constructors = Object.fromEntries(
      Object.entries(SERVICE_PATHS).map(([name, [pkg, service]]) => [
        name,
        root[pkg]!.v1[service]!,
      ]),
    ) as Record<ServiceName, ServiceConstructor>;
  }
  return constructors;
}

/** Options of {@linkcode ContainerdClient}. */
export interface ContainerdClientOptions {
  /** Deadline of each call, in milliseconds. Default 3000. */
  timeoutMs?: number;
  /** `--host-root`: where the host's `/` is mounted. Default `/`. */
  hostRoot?: string;
}

/**
 * containerd's own API on one socket behind the {@linkcode RuntimeClient} interface. Records
 * have `runtime: "containerd"`, `pod` null and `containerd_namespace`; pod sandboxes
 * (label `io.cri-containerd.kind=sandbox`) are not listed. Creating it does no I/O.
 *
 * Errors of every call: {@linkcode RuntimeUnavailableError} (no answer within the deadline,
 * refused, missing socket, not containerd), {@linkcode PermissionError} (EACCES).
 *
 * @example
 * ```ts
 * using containerd = new ContainerdClient("/run/containerd/containerd.sock");
 * const mine = (await containerd.list()).filter((r) => r.containerd_namespace === "default");
 * ```
 */
export class ContainerdClient implements RuntimeClient {
  readonly kind = "containerd";
  readonly socketPath: string;
  readonly endpoint: string;
  /** Deadline of each call, in milliseconds. */
  readonly timeoutMs: number;
  readonly #facts: ProcessFactsReader;
  readonly #clients = new Map<ServiceName, ServiceClient>();

  /** @param socketPath containerd's unix socket */
  constructor(socketPath: string, options: ContainerdClientOptions = {}) {
    this.socketPath = socketPath;
    this.endpoint = `unix://${socketPath}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
    this.#facts = new ProcessFactsReader(options.hostRoot);
  }

  get cgroupRoot(): string | undefined {
    return this.#facts.cgroupRoot;
  }

  /** `Version/Version`: containerd's version; the API version is its services' `v1`. */
  async version(): Promise<RuntimeVersion> {
    const response = await this.#call<{ version: string }>("version", "Version", {}, undefined);
    return { kind: "containerd", name: "containerd", version: response.version, apiVersion: "v1" };
  }

  /** The namespaces whose containers this API answers, sorted. */
  async namespaces(): Promise<string[]> {
    const response = await this.#call<{ namespaces: { name: string }[] }>(
      "namespaces",
      "List",
      {},
      undefined,
    );
    return response.namespaces.map((n) => n.name)
      .filter((name) => !CONTAINERD_NAMESPACES_ANSWERED_ELSEWHERE.includes(name)).sort();
  }

  /** Every container of every namespace answered here, pod sandboxes left out. */
  async list(): Promise<ContainerRecord[]> {
    const perNamespace = await Promise.all(
      (await this.namespaces()).map(async (namespace) => {
        const [containers, tasks] = await Promise.all([
          this.#call<{ containers: ContainerdContainer[] }>("containers", "List", {}, namespace),
          this.#tasks(namespace),
        ]);
        return await Promise.all(
          containers.containers.filter((c) => !isContainerdSandbox(c)).map((container) =>
            this.#record(container, namespace, tasks.get(container.id))
          ),
        );
      }),
    );
    return perNamespace.flat();
  }

  /**
   * One container by full id, from the first namespace (sorted) that has it.
   * @throws {NotFoundError} when no namespace answered here has it, or it is a pod sandbox
   */
  async get(id: string): Promise<ContainerRecord> {
    const found = await this.#find(id);
    if (!found || isContainerdSandbox(found.container)) {
      throw new NotFoundError(`Cannot find container "${id}" in the runtime`);
    }
    const task = await this.#task(id, found.namespace);
    return await this.#record(found.container, found.namespace, task);
  }

  /** When the task of `id` exited (containerd's `exited_at`); undefined while it runs. */
  async finishedAtNs(id: string): Promise<bigint | undefined> {
    const found = await this.#find(id);
    if (!found) throw new NotFoundError(`Cannot find container "${id}" in the runtime`);
    const task = await this.#task(id, found.namespace);
    if (task?.status !== "STOPPED") return undefined;
    const ns = containerdTimeToNs(task.exitedAt);
    return ns > 0n ? ns : undefined;
  }

  /** Pod sandboxes are CRI's to answer (namespace `k8s.io`): always undefined. */
  sandbox(_id: string): Promise<SandboxRecord | undefined> {
    return Promise.resolve(undefined);
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #find(
    id: string,
  ): Promise<{ container: ContainerdContainer; namespace: string } | undefined> {
    const answers = await Promise.all((await this.namespaces()).map(async (namespace) => {
      try {
        const { container } = await this.#call<{ container: ContainerdContainer | null }>(
          "containers",
          "Get",
          { id },
          namespace,
        );
        return container ? { container, namespace } : undefined;
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    }));
    return answers.find((answer) => answer !== undefined);
  }

  async #tasks(namespace: string): Promise<Map<string, ContainerdTask>> {
    const { tasks } = await this.#call<{ tasks: ContainerdTask[] }>(
      "tasks",
      "List",
      {},
      namespace,
    );
    return new Map(tasks.map((task) => [containerOfTask(task), task]));
  }

  async #task(id: string, namespace: string): Promise<ContainerdTask | undefined> {
    try {
      const { process } = await this.#call<{ process: ContainerdTask | null }>(
        "tasks",
        "Get",
        { containerId: id },
        namespace,
      );
      return process ?? undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined; // no task: never started
      throw error;
    }
  }

  async #record(
    container: ContainerdContainer,
    namespace: string,
    task: ContainerdTask | undefined,
  ): Promise<ContainerRecord> {
    const running = task?.status === "RUNNING" || task?.status === "PAUSED" ||
      task?.status === "PAUSING";
    const pid = running && task?.pid ? task.pid : undefined;
    const process = await this.#facts.read(pid, decodeOciSpec(container.spec).linux?.cgroupsPath);
    return buildContainerdRecord({
      container,
      namespace,
      ...(task ? { task } : {}),
      runtimeEndpoint: this.endpoint,
      process,
    });
  }

  /** One unary call with this client's deadline and, when given, the namespace metadata. */
  #call<T>(
    service: ServiceName,
    method: string,
    request: Record<string, unknown>,
    namespace: string | undefined,
  ): Promise<T> {
    const client = this.#client(service);
    const metadata = new grpc.Metadata();
    if (namespace !== undefined) metadata.set(CONTAINERD_NAMESPACE_METADATA_KEY, namespace);
    const call = `${SERVICE_PATHS[service][1]}/${method}`;
    return new Promise<T>((resolve, reject) => {
      client[method]!.call(
        client,
        request,
        metadata,
        { deadline: Date.now() + this.timeoutMs },
        (error, response) => {
          if (error) reject(this.#translate(error, call, namespace));
          else resolve(response as T);
        },
      );
    });
  }

  #client(service: ServiceName): ServiceClient {
    let client = this.#clients.get(service);
    if (!client) {
      client = new (services()[service])(
        `unix://${this.socketPath}`,
        grpc.credentials.createInsecure(),
        {
          "grpc.max_receive_message_length": 64 * 1024 * 1024,
          // One attempt per call: discovery must report a dead socket now, not retry it.
          "grpc.enable_retries": 0,
        },
      );
      this.#clients.set(service, client);
    }
    return client;
  }

  #translate(error: grpc.ServiceError, call: string, namespace: string | undefined): Error {
    const where = `containerd socket "${this.socketPath}"${
      namespace === undefined ? "" : ` (namespace "${namespace}")`
    }`;
    return translateGrpcError(error, {
      where,
      call,
      timeoutMs: this.timeoutMs,
      api: "containerd's API",
      expected: "containerd",
    });
  }
}
