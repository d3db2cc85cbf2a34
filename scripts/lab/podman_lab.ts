/**
 * A private Podman API service for the tests (`scripts/lab/podman.sh`), driven through the
 * Podman CLI as a remote client of its socket, as a user would: `podman run -d --name api`,
 * `podman pod create --name shop`.
 *
 * @module
 */
const podmanScript = new URL("./podman.sh", import.meta.url).pathname;

/** The image `podman.sh start` imports (busybox, its default command sleeps). */
export const PODMAN_LAB_IMAGE = "crienrich.local/busybox:1";

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(output.stdout).trim();
}

/** Options of {@linkcode PodmanLab.run}. */
export interface PodmanRunOptions {
  /** `--label key=value` each. */
  labels?: Record<string, string>;
  /** Command and arguments; default the image's (sleep). */
  command?: string[];
  /** Run detached (default) or wait for the container to exit (`podman run` in front). */
  detach?: boolean;
  /** `--pod NAME`: run it in that pod. */
  pod?: string;
}

const labelFlags = (labels: Record<string, string> = {}) =>
  Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);

/** A running private Podman service. Stop it with `await using` or {@linkcode PodmanLab.stop}. */
export class PodmanLab implements AsyncDisposable {
  readonly dir: string;
  /** The service's socket path (Docker-compatible and libpod APIs). */
  readonly socket: string;

  private constructor(dir: string, socket: string) {
    this.dir = dir;
    this.socket = socket;
  }

  /**
   * Starts a private Podman service under `dir` (default: a fresh temp dir) with the
   * busybox and pause images imported. Needs root and the Debian packages podman and
   * busybox-static.
   */
  static async start(dir?: string): Promise<PodmanLab> {
    const labDir = dir ?? await Deno.makeTempDir({ prefix: "crp-" });
    return new PodmanLab(labDir, await run("bash", [podmanScript, "start", labDir]));
  }

  /** Runs the Podman CLI against this service (`podman --url unix://SOCK`); returns stdout. */
  podman(args: string[]): Promise<string> {
    return run("podman", ["--url", `unix://${this.socket}`, ...args]);
  }

  /** `podman run --name NAME`; returns the full container id. */
  async run(name: string, options: PodmanRunOptions = {}): Promise<string> {
    const detach = options.detach ?? true;
    await this.podman([
      "run",
      ...(detach ? ["-d"] : []),
      "--name",
      name,
      ...(options.pod ? ["--pod", options.pod] : []),
      ...labelFlags(options.labels),
      PODMAN_LAB_IMAGE,
      ...(options.command ?? []),
    ]).catch((error) => {
      // `podman run` in front exits with the container's code; the container exists.
      if (detach) throw error;
    });
    return await this.podman(["inspect", "-f", "{{.Id}}", name]);
  }

  /** `podman pod create --name NAME` (the infra container starts with the pod's first container). */
  async createPod(name: string, labels: Record<string, string> = {}): Promise<string> {
    return await this.podman(["pod", "create", "--name", name, ...labelFlags(labels)]);
  }

  /** Full id of a pod's infra container. */
  async infraId(pod: string): Promise<string> {
    return await this.podman(["pod", "inspect", "-f", "{{.InfraContainerID}}", pod]);
  }

  /** Host pid of a running container's init. */
  async pid(name: string): Promise<number> {
    return Number(await this.podman(["inspect", "-f", "{{.State.Pid}}", name]));
  }

  /** Removes every pod and container and stops the service; cleans the dir. */
  async stop(): Promise<void> {
    await run("bash", [podmanScript, "stop", this.dir]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
