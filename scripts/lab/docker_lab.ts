/**
 * A private Docker Engine for the tests (`scripts/lab/dockerd.sh`), driven through the
 * Docker CLI as a user would: `docker run -d --name web ...`.
 *
 * @module
 */
const dockerdScript = new URL("./dockerd.sh", import.meta.url).pathname;

/** The image `dockerd.sh start` imports (busybox, its default command sleeps). */
export const DOCKER_LAB_IMAGE = "crienrich.local/busybox:1";

/** The Debian CLI matches the Debian daemon (another `docker` on PATH may be newer). */
const DOCKER_CLI = await Deno.stat("/usr/bin/docker").then(() => "/usr/bin/docker", () => "docker");

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

/** Options of {@linkcode DockerLab.run}. */
export interface DockerRunOptions {
  /** `--label key=value` each. */
  labels?: Record<string, string>;
  /** Command and arguments; default the image's (sleep). */
  command?: string[];
  /** Run detached (default) or wait for the container to exit (`docker run` in front). */
  detach?: boolean;
}

/** A running private dockerd. Stop it with `await using` or {@linkcode DockerLab.stop}. */
export class DockerLab implements AsyncDisposable {
  readonly dir: string;
  /** The Engine API socket's path. */
  readonly socket: string;

  private constructor(dir: string, socket: string) {
    this.dir = dir;
    this.socket = socket;
  }

  /**
   * Starts a private dockerd under `dir` (default: a fresh temp dir) with the busybox image
   * imported. Needs root and the Debian packages docker.io and busybox-static.
   */
  static async start(dir?: string): Promise<DockerLab> {
    const labDir = dir ?? await Deno.makeTempDir({ prefix: "crk-" });
    return new DockerLab(labDir, await run("bash", [dockerdScript, "start", labDir]));
  }

  /** Runs the Docker CLI against this daemon; returns its stdout. */
  docker(args: string[]): Promise<string> {
    return run(DOCKER_CLI, ["-H", `unix://${this.socket}`, ...args]);
  }

  /** `docker run --name NAME` (no network); returns the full container id. */
  async run(name: string, options: DockerRunOptions = {}): Promise<string> {
    const labels = Object.entries(options.labels ?? {}).flatMap((
      [k, v],
    ) => ["--label", `${k}=${v}`]);
    const detach = options.detach ?? true;
    await this.docker([
      "run",
      ...(detach ? ["-d"] : []),
      "--name",
      name,
      "--network",
      "none",
      ...labels,
      DOCKER_LAB_IMAGE,
      ...(options.command ?? []),
    ]);
    return await this.docker(["inspect", "-f", "{{.Id}}", name]);
  }

  /** Host pid of a running container's init. */
  async pid(name: string): Promise<number> {
    return Number(await this.docker(["inspect", "-f", "{{.State.Pid}}", name]));
  }

  /** Removes every container and stops the daemon, its containerd and shims; cleans the dir. */
  async stop(): Promise<void> {
    await run("bash", [dockerdScript, "stop", this.dir]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
