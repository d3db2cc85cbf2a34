/**
 * deploy/daemonset.yaml and deploy/Dockerfile: the manifest is parsed as YAML (npm:yaml) and
 * validated against the Kubernetes apps/v1 DaemonSet schema (npm:kubernetes-models, whose
 * generated JSON schemas ship in the package and are checked with ajv, offline), then held
 * to crienrich's own invariants: host pid namespace, not privileged, exactly the
 * capabilities it needs, read-only host mounts, NODE_NAME from the downward API, the image.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";

const manifestPath = new URL("../../deploy/daemonset.yaml", import.meta.url);
const dockerfilePath = new URL("../../deploy/Dockerfile", import.meta.url);
const denoJsonPath = new URL("../../deno.json", import.meta.url);

/** The capabilities the DaemonSet must add (deploy/daemonset.yaml says why, one by one). */
const CAPABILITIES = ["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"];

async function loadManifest(): Promise<IDaemonSet> {
  // Throws on a syntax error, a duplicate key or a second document.
  return parse(await Deno.readTextFile(manifestPath), { uniqueKeys: true }) as IDaemonSet;
}

async function container(): Promise<NonNullable<IDaemonSet["spec"]>["template"]["spec"]> {
  const spec = (await loadManifest()).spec?.template.spec;
  assert.ok(spec, "spec.template.spec");
  return spec;
}

Deno.test("daemonset.yaml is a valid apps/v1 DaemonSet by the Kubernetes schema", async () => {
  const manifest = await loadManifest();
  assert.equal(manifest.apiVersion, "apps/v1");
  assert.equal(manifest.kind, "DaemonSet");
  new DaemonSet(manifest).validate(); // throws a ValidationError naming the bad path
});

Deno.test("DaemonSet.validate() rejects what the schema forbids (the check is real)", () => {
  const bad = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "x" },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: { spec: { hostPID: "yes", containers: [{ name: "c", ports: [{}] }] } },
    },
  } as unknown as IDaemonSet;
  assert.throws(() => new DaemonSet(bad).validate());
});

Deno.test("daemonset.yaml selects its own pods and runs in kube-system", async () => {
  const manifest = await loadManifest();
  assert.equal(manifest.metadata?.namespace, "kube-system");
  const selector = manifest.spec?.selector.matchLabels ?? {};
  const labels = manifest.spec?.template.metadata?.labels ?? {};
  assert.ok(Object.keys(selector).length > 0);
  for (const [key, value] of Object.entries(selector)) assert.equal(labels[key], value, key);
});

Deno.test("daemonset.yaml uses the host pid namespace and is not privileged", async () => {
  const pod = await container();
  assert.equal(pod!.hostPID, true);
  assert.equal(pod!.hostNetwork ?? false, false);
  assert.equal(pod!.automountServiceAccountToken, false);
  assert.equal(pod!.containers.length, 1);
  const sc = pod!.containers[0]!.securityContext;
  assert.equal(sc?.privileged, false);
  assert.equal(sc?.runAsUser, 0);
  assert.equal(sc?.readOnlyRootFilesystem, true);
  assert.deepEqual(sc?.capabilities?.drop, ["ALL"]);
  assert.deepEqual([...(sc?.capabilities?.add ?? [])].sort(), [...CAPABILITIES].sort());
});

Deno.test("daemonset.yaml runs trace --all -o json under --host-root /host", async () => {
  const c = (await container())!.containers[0]!;
  assert.deepEqual(c.args, ["trace", "--all", "-o", "json", "--host-root", "/host"]);
  assert.equal(c.command, undefined, "the image's entrypoint is the binary");
  const nodeName = c.env?.find((e) => e.name === "NODE_NAME");
  assert.deepEqual(nodeName?.valueFrom, { fieldRef: { fieldPath: "spec.nodeName" } });
});

Deno.test("daemonset.yaml mounts the host read-only: / at /host, BTF and tracefs", async () => {
  const pod = (await container())!;
  const mounts = pod.containers[0]!.volumeMounts ?? [];
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const hostMounts = mounts.filter((m) => volumes.get(m.name)?.hostPath);
  const byTarget = Object.fromEntries(
    hostMounts.map((m) => [m.mountPath, volumes.get(m.name)!.hostPath!.path]),
  );
  assert.deepEqual(byTarget, {
    "/host": "/",
    "/sys/kernel/btf": "/sys/kernel/btf",
    "/sys/kernel/tracing": "/sys/kernel/tracing",
  });
  for (const mount of hostMounts) assert.equal(mount.readOnly, true, mount.mountPath);
  const root = hostMounts.find((m) => m.mountPath === "/host");
  assert.equal(root?.mountPropagation, "HostToContainer", "runtime sockets created later");
  for (const mount of mounts.filter((m) => !m.readOnly)) {
    assert.ok(volumes.get(mount.name)?.emptyDir, `only emptyDir is writable: ${mount.name}`);
  }
});

Deno.test("daemonset.yaml's image is tagged with deno.json's version", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(denoJsonPath));
  const c = (await container())!.containers[0]!;
  assert.equal(c.image, `ghcr.io/crienrich/crienrich:${version}`);
});

Deno.test("Dockerfile: bookworm-slim, libbpf1, the compiled binary as entrypoint", async () => {
  // Instructions, one per logical line (continuations joined, comments dropped).
  const lines = (await Deno.readTextFile(dockerfilePath)).replace(/\\\n/g, " ").split("\n")
    .map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
  const instructions = lines.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(" ") };
  });
  assert.deepEqual(instructions.filter((i) => i.keyword === "FROM").map((i) => i.args), [
    "debian:bookworm-slim",
  ]);
  const run = instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" && ");
  assert.match(run, /apt-get install -y --no-install-recommends libbpf1\b/);
  assert.ok(
    instructions.some((i) =>
      i.keyword === "COPY" && i.args === "dist/crienrich /usr/local/bin/crienrich"
    ),
  );
  const entrypoint = instructions.find((i) => i.keyword === "ENTRYPOINT");
  assert.deepEqual(JSON.parse(entrypoint!.args), ["/usr/local/bin/crienrich"]);
});
