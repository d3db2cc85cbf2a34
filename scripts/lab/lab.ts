/**
 * The runtime lab: a private containerd (scripts/lab/containerd.sh) and a small kubelet
 * stand-in that creates pod sandboxes and containers over CRI exactly as the kubelet labels
 * them. Used by the real-runtime tests and by the demo.
 *
 * Pods use host networking (no CNI here) and no hostname (no private UTS namespace): see
 * the module doc of scripts/lab/containerd.sh for the settings this machine needs.
 *
 * @module
 */
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { CriClient } from "../../src/runtime/cri_client.ts";
import {
  CONTAINER_NAME_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from "../../src/runtime/labels.ts";

const containerdScript = fileURLToPath(new URL("./containerd.sh", import.meta.url));

/**
 * Annotation holding the cgroup parent a lab pod was created with: a kubelet removes a pod's
 * cgroup (`/kubepods/besteffort/pod<uid>`) when the pod goes, runc never does, so the lab
 * does, also for a pod found again later by {@linkcode Lab.stopDir} (`demo.sh --stop`).
 */
const CGROUP_PARENT_ANNOTATION = "crienrich.lab/cgroup-parent";

/** Mount points of every cgroup hierarchy (v1 controllers and the v2 tree) mounted at "/". */
async function cgroupMounts(): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts: string[] = [];
  for (const line of text.split("\n")) {
    // proc(5): ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
    const [left = "", right = ""] = line.split(" - ");
    const fields = left.split(" ");
    const fsType = right.split(" ")[0];
    if ((fsType === "cgroup" || fsType === "cgroup2") && fields[3] === "/" && fields[4]) {
      mounts.push(fields[4].replace(/\\040/g, " "));
    }
  }
  return mounts;
}

/** rmdir of a cgroup and its child cgroups, deepest first; a missing one is fine. */
async function removeCgroupDir(dir: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isDirectory) await removeCgroupDir(join(dir, entry.name));
  }
  try {
    await Deno.remove(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Removes a pod's cgroup (`parent`, as given to RunPodSandbox) in every hierarchy. Its
 * processes are gone once the sandbox is removed, but the kernel may still be releasing them:
 * EBUSY is retried for up to 3 s.
 * @throws {Error} when a directory still cannot be removed after that.
 */
export async function removePodCgroup(parent: string): Promise<void> {
  const path = normalize(parent);
  // Only a pod's own cgroup, never a shared ancestor (kubepods, besteffort) or the root.
  if (!path.startsWith("/") || !/^pod/.test(path.split("/").pop() ?? "")) return;
  for (const mount of await cgroupMounts()) {
    const dir = join(mount, path);
    for (let attempt = 0;; attempt++) {
      try {
        await removeCgroupDir(dir);
        break;
      } catch (error) {
        if (attempt >= 30) throw new Error(`Cannot remove pod cgroup "${dir}": ${error}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** The workload image the lab imports (busybox). */
export const LAB_IMAGE = "crienrich.local/busybox:1";

/** A pod the lab created. */
export interface LabPod {
  sandboxId: string;
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  /** The PodSandboxConfig it was created with (CreateContainer needs it again). */
  config: Record<string, unknown>;
}

/** What to create with {@linkcode Lab.runPod}. */
export interface PodSpec {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  /** Pod uid; random when absent. */
  uid?: string;
  /**
   * Cgroup parent as the kubelet's cgroupfs driver sets it, e.g.
   * `/kubepods/besteffort/pod<uid>`; `"kubelet"` builds that path from the uid; absent
   * leaves it to containerd (`/k8s.io/<id>`).
   */
  cgroupParent?: string;
}

async function run(args: string[]): Promise<string> {
  const output = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" })
    .output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return stdout;
}

/** A running private containerd plus a CRI client to it. Stop it with `await using`. */
export class Lab implements AsyncDisposable {
  readonly dir: string;
  readonly socket: string;
  readonly client: CriClient;
  readonly pods: LabPod[] = [];

  private constructor(dir: string, socket: string) {
    this.dir = dir;
    this.socket = socket;
    this.client = new CriClient(socket, { timeoutMs: 30_000 });
  }

  /**
   * Starts a private containerd under `dir` (default: a fresh temp dir) with the busybox
   * image imported. Needs root and the Debian packages containerd, runc, busybox-static.
   */
  static async start(dir?: string): Promise<Lab> {
    const labDir = dir ?? await Deno.makeTempDir({ prefix: "crl-" });
    const socket = await run(["bash", containerdScript, "start", labDir]);
    return new Lab(labDir, socket);
  }

  /** Creates a ready pod sandbox labelled as the kubelet labels it. */
  async runPod(spec: PodSpec): Promise<LabPod> {
    const uid = spec.uid ?? crypto.randomUUID();
    const labels = {
      ...spec.labels,
      [POD_NAME_LABEL]: spec.name,
      [POD_NAMESPACE_LABEL]: spec.namespace,
      [POD_UID_LABEL]: uid,
    };
    const cgroupParent = spec.cgroupParent === "kubelet"
      ? `/kubepods/besteffort/pod${uid}`
      : spec.cgroupParent ?? "";
    const config = {
      metadata: { name: spec.name, namespace: spec.namespace, uid, attempt: 0 },
      logDirectory: `${this.dir}/logs/${spec.namespace}_${spec.name}_${uid}`,
      labels,
      annotations: {
        "kubernetes.io/config.source": "crienrich-lab",
        ...(cgroupParent ? { [CGROUP_PARENT_ANNOTATION]: cgroupParent } : {}),
      },
      linux: {
        cgroupParent,
        securityContext: { namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" } },
      },
    };
    const { podSandboxId } = await this.client.call<{ podSandboxId: string }>(
      "RuntimeService",
      "RunPodSandbox",
      { config },
    );
    const pod = {
      sandboxId: podSandboxId,
      name: spec.name,
      namespace: spec.namespace,
      uid,
      labels,
      config,
    };
    this.pods.push(pod);
    return pod;
  }

  /**
   * Creates and starts a container in `pod`; returns its id. Default command sleeps;
   * `labels` are added to the kubelet's.
   */
  async runContainer(
    pod: LabPod,
    name: string,
    command: string[] = ["/bin/sleep", "3600"],
    image = LAB_IMAGE,
    labels: Record<string, string> = {},
  ): Promise<string> {
    const { containerId } = await this.client.call<{ containerId: string }>(
      "RuntimeService",
      "CreateContainer",
      {
        podSandboxId: pod.sandboxId,
        config: {
          metadata: { name, attempt: 0 },
          image: { image },
          command,
          logPath: `${name}/0.log`,
          labels: {
            ...labels,
            [POD_NAME_LABEL]: pod.name,
            [POD_NAMESPACE_LABEL]: pod.namespace,
            [POD_UID_LABEL]: pod.uid,
            [CONTAINER_NAME_LABEL]: name,
          },
          annotations: { "io.kubernetes.container.restartCount": "0" },
        },
        sandboxConfig: pod.config,
      },
    );
    await this.client.call("RuntimeService", "StartContainer", { containerId });
    return containerId;
  }

  /**
   * Gives image `source` one more name, `target`, with the same image id (`ctr images tag`,
   * as a registry push of one image under two names leaves it on a node).
   */
  async tagImage(source: string, target: string): Promise<void> {
    await run(["ctr", "-a", this.socket, "-n", "k8s.io", "images", "tag", source, target]);
  }

  /**
   * Runs a container outside Kubernetes with containerd's own API, as `ctr run -d` does (in
   * containerd namespace `namespace`, cgroup `/<namespace>/<id>`), the lab's busybox image
   * imported into that namespace first. Removed by {@linkcode stop} (containerd.sh stops the
   * tasks of every namespace).
   * @param id the container id (nerdctl's are 64 hex digits; `ctr` takes any name)
   * @param command the container's command, default a long sleep
   * @returns the host pid of its task
   */
  async runCtr(
    id: string,
    { namespace = "default", labels = {}, command = ["sleep", "3600"] }: {
      namespace?: string;
      labels?: Record<string, string>;
      command?: string[];
    } = {},
  ): Promise<number> {
    const ctr = (...args: string[]) => run(["ctr", "-a", this.socket, ...args]);
    if (!(await ctr("-n", namespace, "images", "ls", "-q")).split("\n").includes(LAB_IMAGE)) {
      const archive = join(this.dir, `image-${namespace}.tar`);
      await ctr("-n", "k8s.io", "images", "export", archive, LAB_IMAGE);
      await ctr("-n", namespace, "images", "import", archive);
      await Deno.remove(archive);
    }
    const labelArgs = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    await ctr("-n", namespace, "run", "-d", ...labelArgs, LAB_IMAGE, id, ...command);
    const tasks = await ctr("-n", namespace, "tasks", "ls");
    const pid = tasks.split("\n").map((line) => line.trim().split(/\s+/))
      .find(([task]) => task === id)?.[1];
    if (!pid) throw new Error(`ctr run of "${id}" left no task: ${tasks}`);
    return Number(pid);
  }

  /**
   * The image id (`sha256:...`) of an image name, through CRI ImageStatus.
   * @throws {Error} when the runtime has no such image.
   */
  async imageId(image: string): Promise<string> {
    const { image: found } = await this.client.imageStatus(image);
    if (!found) throw new Error(`Cannot find image "${image}" in the lab's containerd`);
    return found.id;
  }

  /** Runs a command in a container (CRI ExecSync) and returns its output and exit code. */
  async exec(
    containerId: string,
    cmd: string[],
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const response = await this.client.call<
      { stdout: Uint8Array; stderr: Uint8Array; exitCode: number }
    >("RuntimeService", "ExecSync", { containerId, cmd, timeout: 30 });
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      stdout: decode(response.stdout),
      stderr: decode(response.stderr),
      exitCode: response.exitCode,
    };
  }

  /** Stops and removes a pod sandbox and its containers, then the pod's cgroup. */
  async removePod(pod: LabPod): Promise<void> {
    await this.client.call("RuntimeService", "StopPodSandbox", { podSandboxId: pod.sandboxId });
    await this.client.call("RuntimeService", "RemovePodSandbox", { podSandboxId: pod.sandboxId });
    this.pods.splice(this.pods.indexOf(pod), 1);
    const parent = (pod.config["linux"] as { cgroupParent?: string } | undefined)?.cgroupParent;
    if (parent) await removePodCgroup(parent);
  }

  /**
   * Removes every pod, stops containerd, deletes its directory and the pods' cgroups. Safe
   * to call twice.
   */
  async stop(): Promise<void> {
    for (const pod of [...this.pods]) {
      await this.removePod(pod).catch(() => {});
    }
    await Lab.#stopContainerd(this.dir, this.client);
  }

  /**
   * Stops a lab that another process started under `dir` (a kept demo): removes its pods and
   * their cgroups (found again by their annotation), then stops its containerd. Nothing
   * happens when none runs there.
   */
  static async stopDir(dir: string): Promise<void> {
    await Lab.#stopContainerd(
      dir,
      new CriClient(join(dir, "containerd.sock"), { timeoutMs: 5000 }),
    );
  }

  /** Pods' cgroup parents from the runtime, then containerd stopped, then those cgroups. */
  static async #stopContainerd(dir: string, client: CriClient): Promise<void> {
    // Whatever is left (pods not removed, or removed by containerd.sh's kill): their cgroups.
    const sandboxes = await client.listPodSandboxes().catch(() => []);
    client.close();
    const parents = sandboxes.map((s) => s.annotations?.[CGROUP_PARENT_ANNOTATION])
      .filter((p): p is string => Boolean(p));
    await run(["bash", containerdScript, "stop", dir]);
    for (const parent of new Set(parents)) await removePodCgroup(parent);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
