/**
 * The Docker Engine API's transport: HTTP/1.1 over the daemon's unix socket through Deno's
 * own `fetch` (a `Deno.createHttpClient` whose proxy is the socket), JSON bodies, a
 * deadline on every call, and API version negotiation as the Docker CLI does it: ask the
 * unversioned `GET /version`, then use the lower of the daemon's `ApiVersion` and
 * {@linkcode DOCKER_API_MAX_VERSION} in every path (`/v1.41/containers/json`).
 *
 * Spec: Docker Engine API reference, "Versioning" (docs.docker.com/engine/api/). Podman's
 * Docker-compatible service answers the same paths.
 *
 * @module
 */
import { type DockerContainerInspect, parseDockerInspect } from "./docker_record.ts";
import {
  describeJson,
  isJsonObject,
  listField,
  MalformedAnswerError,
  objectField,
  stringField,
} from "./json_shape.ts";
import {
  type CliError,
  errorMessage,
  NotFoundError,
  PermissionError,
  RuntimeUnavailableError,
} from "../errors.ts";

/** Default deadline of one Engine API call, in milliseconds (as CRI calls'). */
export const DEFAULT_DOCKER_TIMEOUT_MS = 3000;

/**
 * The oldest API version whose answers carry every field read here (`State.Pid`,
 * `HostConfig.CgroupParent`, `Config.Image`, labels: Docker 1.12's API 1.24).
 */
export const DOCKER_API_MIN_VERSION = "1.24";

/**
 * The newest API version this client asks for; a newer daemon is asked at this one (a
 * daemon serves every older version down to its `MinAPIVersion`). API 1.47 is Docker 27.
 */
export const DOCKER_API_MAX_VERSION = "1.47";

/**
 * The parts of `GET /version` used here (Podman's `Components[].Details.APIVersion` too), as
 * {@linkcode parseDockerVersion} gives them: every field present is of its type.
 */
export interface DockerVersionResponse {
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
  Components?: { Name?: string; Version?: string; Details?: { APIVersion?: string } }[];
}

/**
 * A `GET /version` answer as read here: each field kept only when of its type, components
 * that are no objects dropped.
 * @throws {MalformedAnswerError} when the answer is no object, or its `ApiVersion` is there
 *   but no string (an answer without `ApiVersion` is left to the caller: not the Engine API)
 * @example parseDockerVersion({ Version: 27, ApiVersion: "1.47" }) // { ApiVersion: "1.47" }
 */
export function parseDockerVersion(answer: unknown): DockerVersionResponse {
  if (!isJsonObject(answer)) {
    throw new MalformedAnswerError(`${describeJson(answer)}, not an object`);
  }
  if ("ApiVersion" in answer && typeof answer.ApiVersion !== "string") {
    throw new MalformedAnswerError(
      `an object whose ApiVersion is ${describeJson(answer.ApiVersion)}, not a string`,
    );
  }
  const version: DockerVersionResponse = {};
  for (const key of ["Version", "ApiVersion", "MinAPIVersion"] as const) {
    const value = stringField(answer, key);
    if (value !== undefined) version[key] = value;
  }
  const components = listField(answer, "Components");
  if (components) {
    version.Components = components.filter(isJsonObject).map((raw) => {
      const component: NonNullable<DockerVersionResponse["Components"]>[number] = {};
      const name = stringField(raw, "Name");
      if (name !== undefined) component.Name = name;
      const componentVersion = stringField(raw, "Version");
      if (componentVersion !== undefined) component.Version = componentVersion;
      const apiVersion = stringField(objectField(raw, "Details"), "APIVersion");
      if (apiVersion !== undefined) component.Details = { APIVersion: apiVersion };
      return component;
    });
  }
  return version;
}

/**
 * Compares two API versions (`1.41` < `1.47` < `1.100`), numerically part by part.
 * @returns negative, zero or positive as `a` is older, equal or newer than `b`
 */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The API version to use with a daemon that speaks up to `daemonVersion`: the lower of it
 * and {@linkcode DOCKER_API_MAX_VERSION}.
 * @throws {RuntimeUnavailableError} when the daemon's version is malformed or older than
 *   {@linkcode DOCKER_API_MIN_VERSION}.
 * @example negotiateApiVersion("1.41") // "1.41"
 */
export function negotiateApiVersion(
  daemonVersion: string | undefined,
  where = "the daemon",
): string {
  if (!daemonVersion || !/^\d+\.\d+$/.test(daemonVersion)) {
    throw new RuntimeUnavailableError(
      `Cannot use the Docker Engine API at ${where}: no API version in its /version answer (${
        JSON.stringify(daemonVersion ?? null)
      })`,
    );
  }
  if (compareApiVersions(daemonVersion, DOCKER_API_MIN_VERSION) < 0) {
    throw new RuntimeUnavailableError(
      `Cannot use the Docker Engine API at ${where}: API ${daemonVersion} is older than ${DOCKER_API_MIN_VERSION} (Docker 1.12)`,
    );
  }
  return compareApiVersions(daemonVersion, DOCKER_API_MAX_VERSION) > 0
    ? DOCKER_API_MAX_VERSION
    : daemonVersion;
}

/** Options of {@linkcode DockerApi}. */
export interface DockerApiOptions {
  /** Deadline of each call, in milliseconds. Default {@linkcode DEFAULT_DOCKER_TIMEOUT_MS}. */
  timeoutMs?: number;
  /**
   * The service in messages: `Docker` (default) or `Podman`, as in `Podman socket "/x"`
   * and `is podman system service running?`.
   */
  service?: "Docker" | "Podman";
}

/**
 * An Engine API connection over one unix socket.
 *
 * Errors: {@linkcode RuntimeUnavailableError} (no socket, refused, no answer within the
 * deadline, not the Engine API, an answer of the wrong shape), {@linkcode PermissionError}
 * (the socket is root-only or in the `docker` group), {@linkcode NotFoundError} (404 on an
 * object's path).
 *
 * Every answer is read through a `read` function (`json_shape.ts`'s readers) before anyone
 * uses it: one that throws a {@linkcode MalformedAnswerError} makes the call fail with a
 * {@linkcode RuntimeUnavailableError} naming the socket, the call and what was wrong
 * (`Docker socket "/x" answered GET /containers/json with an object, not a list`).
 *
 * @example
 * ```ts
 * using api = new DockerApi("/var/run/docker.sock");
 * const ids = await api.get("/containers/json?all=true", (answer) =>
 *   expectList(answer, (entry) => expectObjectWithId(entry).Id));
 * ```
 */
export class DockerApi implements Disposable {
  readonly socketPath: string;
  readonly timeoutMs: number;
  readonly #service: "Docker" | "Podman";
  readonly #http: Deno.HttpClient;
  #negotiated: Promise<{ version: DockerVersionResponse; apiVersion: string }> | undefined;
  #cgroupDriver: Promise<string | undefined> | undefined;

  constructor(socketPath: string, options: DockerApiOptions = {}) {
    this.socketPath = socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS;
    this.#service = options.service ?? "Docker";
    this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  }

  /**
   * `GET /version` (unversioned) and the API version negotiated from it; asked once.
   * @throws {RuntimeUnavailableError|PermissionError}
   */
  negotiate(): Promise<{ version: DockerVersionResponse; apiVersion: string }> {
    this.#negotiated ??= this.#request("/version", "GET /version", (answer) => {
      if (!isJsonObject(answer) || !("ApiVersion" in answer)) {
        throw new RuntimeUnavailableError(
          `Cannot use ${this.#where}: its GET /version answer is not the Docker Engine API's`,
        );
      }
      const version = parseDockerVersion(answer);
      return { version, apiVersion: negotiateApiVersion(version.ApiVersion, this.#where) };
    });
    // A failed negotiation is not kept: the next call asks again.
    this.#negotiated.catch(() => (this.#negotiated = undefined));
    return this.#negotiated;
  }

  /**
   * `GET /v<negotiated>/<path>`, the JSON body parsed and read by `read`.
   * @param path e.g. `/containers/json?all=true`
   * @param read checks the answer's shape and gives it its type (`json_shape.ts`)
   * @throws {NotFoundError} on 404
   * @throws {RuntimeUnavailableError} also when `read` finds the answer malformed
   * @throws {PermissionError}
   */
  async get<T>(path: string, read: (answer: unknown) => T): Promise<T> {
    const { apiVersion } = await this.negotiate();
    return this.#request(`/v${apiVersion}${path}`, `GET ${path.replace(/\?.*$/, "")}`, read);
  }

  /**
   * `GET /containers/{id}/json`: one container, inspected ({@linkcode parseDockerInspect}).
   * @throws {NotFoundError} when the daemon has no such container
   * @throws {RuntimeUnavailableError} also when the answer is no object with a string `Id`
   * @throws {PermissionError}
   */
  inspectContainer(id: string): Promise<DockerContainerInspect> {
    return this.get(`/containers/${encodeURIComponent(id)}/json`, parseDockerInspect);
  }

  /**
   * {@linkcode inspectContainer}, or undefined for a container removed meanwhile (between a
   * list and its inspect).
   */
  inspectIfPresent(id: string): Promise<DockerContainerInspect | undefined> {
    return this.inspectContainer(id).catch((error) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
  }

  /**
   * The daemon's cgroup driver (`GET /info`'s `CgroupDriver`), asked once; undefined if unsaid
   * (or not a string, or the call failed: it only helps place exited containers).
   */
  cgroupDriver(): Promise<string | undefined> {
    this.#cgroupDriver ??= this.get("/info", (info) => stringField(info, "CgroupDriver"))
      .catch(() => undefined);
    return this.#cgroupDriver;
  }

  /**
   * `GET <path>` exactly as given, the JSON body parsed and read by `read`: for paths
   * versioned otherwise than the Engine API, as libpod's `/v4.3.1/libpod/containers/json` on
   * Podman's service.
   * @throws {NotFoundError} on 404
   * @throws {RuntimeUnavailableError} also when `read` finds the answer malformed
   * @throws {PermissionError}
   */
  getAt<T>(path: string, read: (answer: unknown) => T): Promise<T> {
    return this.#request(path, `GET ${path.replace(/\?.*$/, "")}`, read);
  }

  get #where(): string {
    return `${this.#service} socket "${this.socketPath}"`;
  }

  get #daemon(): string {
    return this.#service === "Podman" ? "podman system service" : "dockerd";
  }

  async #request<T>(path: string, call: string, read: (answer: unknown) => T): Promise<T> {
    let response: Response;
    try {
      // The host part is ignored: the connection is the socket's.
      response = await fetch(`http://docker${path}`, {
        client: this.#http,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw this.#transportError(error, call);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.#transportError(error, call);
    }
    if (response.status === 404 && !path.endsWith("/version")) {
      throw new NotFoundError(`${call} on ${this.#where}: ${messageOf(text) ?? "not found"}`);
    }
    if (!response.ok) {
      throw new RuntimeUnavailableError(
        `${call} on ${this.#where} failed: HTTP ${response.status}${
          messageOf(text) ? `: ${messageOf(text)}` : ""
        }${response.status === 404 ? " (not the Docker Engine API)" : ""}`,
      );
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch (error) {
      throw new RuntimeUnavailableError(
        `${call} on ${this.#where}: the answer is not JSON (not the Docker Engine API)`,
        { cause: error },
      );
    }
    try {
      return read(answer);
    } catch (error) {
      if (!(error instanceof MalformedAnswerError)) throw error;
      throw new RuntimeUnavailableError(`${this.#where} answered ${call} with ${error.message}`, {
        cause: error,
      });
    }
  }

  /** A fetch failure in our words, keeping the original as the cause. */
  #transportError(error: unknown, call: string): CliError {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return new RuntimeUnavailableError(
        `Runtime at ${this.#where} did not answer ${call} within ${this.timeoutMs} ms: raise --timeout or check ${this.#daemon}`,
        { cause: error },
      );
    }
    const detail = [error, (error as { cause?: unknown })?.cause].map(errorMessage).join(": ");
    if (/No such file or directory|os error 2\b/.test(detail)) {
      return new RuntimeUnavailableError(`Cannot connect to ${this.#where}: no such socket`, {
        cause: error,
      });
    }
    if (/Permission denied|os error 13\b/.test(detail)) {
      return new PermissionError(
        `Cannot connect to ${this.#where}: permission denied (run as root)`,
        { cause: error },
      );
    }
    if (/Connection refused|os error 111\b/.test(detail)) {
      return new RuntimeUnavailableError(
        `Cannot connect to ${this.#where}: connection refused (is ${this.#daemon} running?)`,
        { cause: error },
      );
    }
    return new RuntimeUnavailableError(
      `Cannot call ${call} on ${this.#where}: ${detail} (not the Docker Engine API?)`,
      { cause: error },
    );
  }

  close(): void {
    this.#http.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The `message` field of an Engine API error body, when there is one. */
function messageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    return typeof body?.message === "string" ? body.message : undefined;
  } catch {
    return undefined;
  }
}
