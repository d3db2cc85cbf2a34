/**
 * The one interface every runtime client implements (CRI runtimes, the Docker Engine API,
 * Podman), so that `ps`, `inspect` and the tracer's enrichment never learn which runtime
 * answered. Each runtime API has its own module (`cri_runtime.ts`, `docker_client.ts`,
 * `podman_client.ts`) and one row in the table of `runtime_kinds.ts`, the only place that
 * tells runtime kinds apart.
 *
 * Modelled on Inspektor Gadget's `pkg/container-utils/runtime-client/interface.go`: one
 * client interface, one shared container record.
 *
 * @module
 */
import type { ContainerRecord, PodRecord } from "./record.ts";

/**
 * The API a runtime socket speaks: `cri` (Kubernetes CRI runtime.v1 over gRPC: containerd,
 * CRI-O, cri-dockerd), `docker` (Docker Engine API, HTTP/1.1), `podman` (Podman's service:
 * the Docker-compatible API plus libpod's own, HTTP/1.1) or `containerd` (containerd's own
 * gRPC API, on the same socket as its CRI, for the containers of its other namespaces).
 */
export type RuntimeKind = "cri" | "docker" | "podman" | "containerd";

/** What a runtime says about itself. */
export interface RuntimeVersion {
  kind: RuntimeKind;
  /**
   * Runtime name: CRI Version's `runtime_name` (`containerd`, `cri-o`, `docker`), `docker`
   * or `podman`.
   */
  name: string;
  /** Runtime version, e.g. `1.6.20~ds1`, `20.10.24+dfsg1`. */
  version: string;
  /**
   * API version in use: CRI's `v1`, the negotiated Docker Engine API version (`1.41`), or
   * Podman's libpod API version (`4.3.1`).
   */
  apiVersion: string;
}

/**
 * A pod sandbox (a CRI runtime's, cri-dockerd's pause container, a Podman pod's infra
 * container) with what proves a cgroup is its.
 */
export interface SandboxRecord {
  /** Sandbox id. */
  id: string;
  pod: PodRecord;
  /** Cgroup paths the runtime records for it (spec literal, expansion). */
  cgroupPaths: string[];
  /** Its cgroup directory's id (inode in the v2 tree) while it exists. */
  cgroupId?: bigint;
  /** Host pid of its init (pause, the infra container's command) while it runs, if known. */
  pid?: number;
}

/**
 * What `ps`, `inspect` and the tracer's enrichment read containers from: one runtime (a
 * {@linkcode RuntimeClient}) or every runtime of the node at once (`runtime_set.ts`). Every
 * method has a deadline; close it when done (`using`, or `close()` in `finally`).
 */
export interface ContainerSource extends Disposable {
  /**
   * Every container of the runtime, exited ones included, with process facts read from
   * `/proc` for running ones. Containers removed meanwhile are left out.
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  list(): Promise<ContainerRecord[]>;

  /**
   * One container by full id.
   * @throws {NotFoundError} when the runtime has no such container.
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  get(id: string): Promise<ContainerRecord>;

  /**
   * When an exited container finished, in ns since the epoch; undefined when unknown or
   * still running.
   * @throws {NotFoundError|RuntimeUnavailableError|PermissionError}
   */
  finishedAtNs(id: string): Promise<bigint | undefined>;

  /**
   * The pod sandbox with full id `id`; undefined when there is none (runtimes without pod
   * sandboxes always answer undefined).
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  sandbox(id: string): Promise<SandboxRecord | undefined>;

  /**
   * The running pod sandboxes with their init's pid, to tell whose mount namespace a
   * runtime helper joined (an exec into a Podman pod's infra container). Runtimes without
   * pod sandboxes leave it out.
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  sandboxes?(): Promise<SandboxRecord[]>;

  /** Closes the connection; further calls fail. */
  close(): void;
}

/**
 * A connected runtime: one socket, one API. Every method has a deadline (the client's
 * timeout); close it when done (`using`, or `close()` in `finally`).
 */
export interface RuntimeClient extends ContainerSource {
  readonly kind: RuntimeKind;
  /** Path of the socket it talks to. */
  readonly socketPath: string;
  /** `unix://` endpoint, as recorded in each record's `runtime_endpoint`. */
  readonly endpoint: string;
  /** The cgroup v2 tree's directory as records are read (under `--host-root`), if any. */
  readonly cgroupRoot: string | undefined;

  /**
   * What the runtime says about itself.
   * @throws {RuntimeUnavailableError|PermissionError} when it cannot be asked.
   */
  version(): Promise<RuntimeVersion>;
}
