/**
 * A client for the Kubernetes Container Runtime Interface (CRI, package runtime.v1) over a
 * unix socket, through `@grpc/grpc-js`. One client serves containerd, CRI-O, cri-dockerd and
 * the k3s/RKE2/microk8s containerd builds alike: they differ only in socket path and in the
 * free-form verbose `info` documents (parsed in `container_info.ts`).
 *
 * Every call carries a deadline, so a socket whose server never answers cannot hang the tool
 * (Inspektor Gadget's CRI client bounds only the dial; we bound each call).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { translateGrpcError } from "./grpc_errors.ts";
import * as protoLoader from "@grpc/proto-loader";
import { criDescriptor } from "./cri_descriptor.gen.ts";
import { UsageError } from "../errors.ts";
import type {
  CriContainer,
  CriContainerStatusResponse,
  CriImageStatusResponse,
  CriPodSandbox,
  CriVersionResponse,
} from "./cri_types.ts";

/** Default deadline of one CRI call, in milliseconds. */
export const DEFAULT_CRI_TIMEOUT_MS = 3000;

type UnaryCallback = (error: grpc.ServiceError | null, response: unknown) => void;
type UnaryMethod = (request: unknown, options: grpc.CallOptions, callback: UnaryCallback) => void;
type ServiceClient = grpc.Client & Record<string, UnaryMethod>;
type ServiceConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => ServiceClient;

let services: { runtime: ServiceConstructor; image: ServiceConstructor } | undefined;

/** Loads the embedded CRI descriptor once (no file is read: see scripts/gen_proto.ts). */
function criServices(): { runtime: ServiceConstructor; image: ServiceConstructor } {
  if (!services) {
    const definition = protoLoader.fromJSON(criDescriptor, {
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const v1 = (grpc.loadPackageDefinition(definition) as unknown as {
      runtime: { v1: Record<string, ServiceConstructor> };
    }).runtime.v1;
    services = { runtime: v1.RuntimeService!, image: v1.ImageService! };
  }
  return services;
}

/**
 * Normalises a CRI endpoint as crictl accepts it: `unix:///run/x.sock`, `unix:/run/x.sock`
 * or a plain absolute path. Returns the socket's path.
 *
 * @throws {UsageError} for other schemes (`tcp://`, `http://`, `npipe://`) or a relative path.
 * @example endpointToSocketPath("unix:///run/containerd/containerd.sock") // "/run/containerd/containerd.sock"
 */
export function endpointToSocketPath(endpoint: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/.exec(endpoint);
  let path = endpoint;
  if (match) {
    const [, scheme, rest] = match as unknown as [string, string, string];
    if (scheme.toLowerCase() !== "unix") {
      throw new UsageError(
        `Unsupported runtime endpoint "${endpoint}": only unix sockets are supported (unix:///path or /path)`,
      );
    }
    path = rest.replace(/^\/\/(?=\/)/, "");
  }
  if (!path.startsWith("/")) {
    throw new UsageError(
      `Invalid runtime endpoint "${endpoint}": expected an absolute socket path or unix:///path`,
    );
  }
  return path;
}

/** Options of {@linkcode CriClient}. */
export interface CriClientOptions {
  /** Deadline of each call, in milliseconds. Default {@linkcode DEFAULT_CRI_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * A CRI client bound to one unix socket. Creating it does no I/O; the first call connects.
 * Close it (or `using`) so gRPC's timers do not keep the process alive.
 *
 * Errors thrown by calls: {@linkcode RuntimeUnavailableError} (no answer within the deadline,
 * connection refused, missing socket, not a CRI server), {@linkcode PermissionError}
 * (EACCES on the socket), {@linkcode NotFoundError} (the runtime says NOT_FOUND).
 */
export class CriClient implements Disposable {
  /** The socket path this client talks to. */
  readonly socketPath: string;
  /** Deadline of each call, in milliseconds. */
  readonly timeoutMs: number;
  #runtime: ServiceClient | undefined;
  #image: ServiceClient | undefined;

  constructor(socketPath: string, options: CriClientOptions = {}) {
    this.socketPath = socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
  }

  /** `RuntimeService.Version`: runtime name, version and CRI API version. */
  version(): Promise<CriVersionResponse> {
    return this.call("RuntimeService", "Version", { version: "v1" });
  }

  /** `RuntimeService.ListPodSandbox`, optionally narrowed by a label selector (AND). */
  async listPodSandboxes(labelSelector: Record<string, string> = {}): Promise<CriPodSandbox[]> {
    const response = await this.call<{ items: CriPodSandbox[] }>(
      "RuntimeService",
      "ListPodSandbox",
      { filter: { labelSelector } },
    );
    return response.items;
  }

  /** `RuntimeService.ListContainers`, optionally narrowed to one pod sandbox. */
  async listContainers(filter: { podSandboxId?: string } = {}): Promise<CriContainer[]> {
    const response = await this.call<{ containers: CriContainer[] }>(
      "RuntimeService",
      "ListContainers",
      { filter: { podSandboxId: filter.podSandboxId ?? "" } },
    );
    return response.containers;
  }

  /**
   * `RuntimeService.ContainerStatus` with `verbose` set, so `info.info` carries the pid and
   * the OCI runtime spec (see container_info.ts).
   * @throws {NotFoundError} when the runtime has no such container.
   */
  containerStatus(containerId: string): Promise<CriContainerStatusResponse> {
    return this.call("RuntimeService", "ContainerStatus", { containerId, verbose: true });
  }

  /** `ImageService.ImageStatus` of an image id or reference; `image` is null when absent. */
  imageStatus(image: string): Promise<CriImageStatusResponse> {
    return this.call("ImageService", "ImageStatus", { image: { image } });
  }

  /**
   * Any unary CRI call by service and method name, with this client's deadline. Used by the
   * typed methods above and by the test harness and demo, which play the kubelet
   * (RunPodSandbox, CreateContainer, ExecSync, ...). The response is not checked.
   */
  call<T>(
    service: "RuntimeService" | "ImageService",
    method: string,
    request: Record<string, unknown>,
  ): Promise<T> {
    const client = this.#client(service);
    const fn = client[method];
    if (typeof fn !== "function") {
      return Promise.reject(new TypeError(`Unknown CRI method ${service}.${method}`));
    }
    return new Promise<T>((resolve, reject) => {
      fn.call(client, request, { deadline: Date.now() + this.timeoutMs }, (error, response) => {
        if (error) reject(this.#translate(error, `${service}/${method}`));
        else resolve(response as T);
      });
    });
  }

  /** Closes the gRPC channels. Idempotent. */
  close(): void {
    this.#runtime?.close();
    this.#image?.close();
    this.#runtime = this.#image = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #client(service: "RuntimeService" | "ImageService"): ServiceClient {
    const options: grpc.ClientOptions = {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      // One attempt per call: discovery must report a dead socket now, not retry it.
      "grpc.enable_retries": 0,
    };
    const address = `unix://${this.socketPath}`;
    const constructors = criServices();
    if (service === "RuntimeService") {
      return this.#runtime ??= new constructors.runtime(
        address,
        grpc.credentials.createInsecure(),
        options,
      );
    }
    return this.#image ??= new constructors.image(
      address,
      grpc.credentials.createInsecure(),
      options,
    );
  }

  #translate(error: grpc.ServiceError, call: string): Error {
    const where = `runtime socket "${this.socketPath}"`;
    return translateGrpcError(error, {
      where,
      call,
      timeoutMs: this.timeoutMs,
      api: "CRI v1",
      expected: "a CRI runtime",
    });
  }
}
