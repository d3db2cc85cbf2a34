/**
 * Runtime discovery against a real containerd (scripts/lab) and real sockets that fail in
 * each way discovery reports. Tests that need the lab need root; under `CI=true` they run
 * (and fail) instead of being skipped.
 *
 * The fake host root puts the lab's socket at `H/run/containerd/containerd.sock` with a bind
 * mount of the socket file onto an empty file (the real socket inode at that path, as a
 * kubelet node has it); where mount is not permitted it falls back to a symlink, which works
 * too because both `Deno.stat` and connect(2) follow symlinks.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  connectRuntime,
  probeAll,
  probeEndpoint,
  type ProbeStatus,
  readEndpointSettings,
} from "../../src/runtime/discovery.ts";
import { WELL_KNOWN_ENDPOINTS } from "../../src/runtime/endpoints.ts";
import { PermissionError, RuntimeUnavailableError } from "../../src/errors.ts";
import { Lab } from "../../scripts/lab/lab.ts";
import { silentSocket } from "../harness/sockets.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const isRoot = Deno.uid() === 0;
/** Root-only tests run when root, and under CI always (so a non-root CI fails them). */
const ignoreReal = !isRoot && Deno.env.get("CI") !== "true";
const NOBODY = 65534;
const SHORT_TIMEOUT_MS = 300;

async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  assert.ok(out.success, `${cmd} ${args.join(" ")} failed: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** The runtime version `containerd --version` prints ("containerd <module> <version> <rev>"). */
async function containerdVersion(): Promise<string> {
  const version = (await run("containerd", "--version")).split(/\s+/)[2];
  assert.ok(version, "containerd --version prints a version");
  return version;
}

// --- one lab for the whole file -----------------------------------------------------------

let labStarted: Promise<Lab> | undefined;
const cleanups: (() => Promise<void>)[] = [];

/** The file's lab containerd, started on first use. */
function lab(): Promise<Lab> {
  assert.ok(isRoot, "this test needs root: it starts a private containerd (scripts/lab)");
  return labStarted ??= Lab.start();
}

Deno.test.afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  if (labStarted) await (await labStarted).stop();
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  return dir;
}

/** Makes `socket` reachable at `hostRoot/relPath`: bind mount, else symlink. */
async function placeSocket(socket: string, hostRoot: string, relPath: string): Promise<string> {
  const target = join(hostRoot, relPath);
  await Deno.mkdir(dirname(target), { recursive: true, mode: 0o755 });
  await Deno.writeFile(target, new Uint8Array());
  const mount = await new Deno.Command("mount", { args: ["--bind", socket, target] }).output();
  if (mount.success) {
    cleanups.push(async () => void await new Deno.Command("umount", { args: [target] }).output());
  } else {
    await Deno.remove(target);
    await Deno.symlink(socket, target);
  }
  assert.ok((await Deno.stat(target)).isSocket, target);
  return target;
}

/** A fake host root with the lab's socket at containerd's default path. */
let hostRootMade: Promise<string> | undefined;
function labHostRoot(): Promise<string> {
  return hostRootMade ??= (async () => {
    const { socket } = await lab();
    const hostRoot = await tempDir("crh-");
    await Deno.chmod(hostRoot, 0o755); // traversable by the unprivileged test below
    await placeSocket(socket, hostRoot, "run/containerd/containerd.sock");
    return hostRoot;
  })();
}

/** Runs `fn` with CONTAINER_RUNTIME_ENDPOINT set to `value` (unset when undefined). */
async function withEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const name = "CONTAINER_RUNTIME_ENDPOINT";
  const saved = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete(name);
    else Deno.env.set(name, saved);
  }
}

// --- finding the lab ----------------------------------------------------------------------

Deno.test({
  name: "connectRuntime() picks containerd's well-known socket under hostRoot",
  ignore: ignoreReal,
  async fn() {
    const hostRoot = await labHostRoot();
    const skipped: string[] = [];
    const { client, probe } = await connectRuntime({ hostRoot }, (line) => skipped.push(line));
    using _ = client;
    const path = join(hostRoot, "run/containerd/containerd.sock");
    assert.deepEqual(skipped, []);
    assert.equal(probe.endpoint, `unix://${path}`);
    assert.equal(probe.source, "well-known");
    assert.equal(probe.usedBy, "containerd");
    assert.equal(probe.status, "ok");
    assert.equal(probe.runtimeName, "containerd");
    assert.equal(probe.runtimeVersion, await containerdVersion());
    assert.equal(probe.criApiVersion, "v1");
    assert.equal(client.socketPath, path);
    assert.equal((await client.version()).name, "containerd");
  },
});

Deno.test({
  name: "connectRuntime() skips missing well-known sockets and finds k3s's",
  ignore: ignoreReal,
  async fn() {
    const { socket } = await lab();
    const hostRoot = await tempDir("crk-");
    const path = await placeSocket(socket, hostRoot, "run/k3s/containerd/containerd.sock");
    const skipped: string[] = [];
    const { client, probe } = await connectRuntime({ hostRoot }, (line) => skipped.push(line));
    client.close();
    assert.equal(probe.endpoint, `unix://${path}`);
    assert.equal(probe.usedBy, "k3s, RKE2");
    assert.equal(probe.runtimeName, "containerd");
    const k3s = WELL_KNOWN_ENDPOINTS.findIndex((k) => k.usedBy === "k3s, RKE2");
    assert.deepEqual(
      skipped,
      WELL_KNOWN_ENDPOINTS.slice(0, k3s).map((k) =>
        `skip unix://${join(hostRoot, k.path)}: missing`
      ),
    );
  },
});

Deno.test({
  name: "probeAll() reports the lab socket ok and every other well-known socket missing",
  ignore: ignoreReal,
  async fn() {
    const hostRoot = await labHostRoot();
    const probes = await probeAll({ hostRoot, timeoutMs: 3000 });
    const expected = WELL_KNOWN_ENDPOINTS.map((k, i) => [
      `unix://${join(hostRoot, k.path)}`,
      i === 0 ? "ok" : "missing",
    ]);
    // containerd's socket answers its own API too: a second row right after its CRI one.
    expected.splice(1, 0, expected[0]!);
    assert.deepEqual(probes.map((p) => [p.endpoint, p.status]), expected);
    assert.equal(probes[0]?.runtimeName, "containerd");
    assert.deepEqual([probes[0]?.kind, probes[1]?.kind], ["cri", "containerd"]);
  },
});

Deno.test({
  name: "readEndpointSettings() takes CONTAINER_RUNTIME_ENDPOINT and connectRuntime() uses it",
  ignore: ignoreReal,
  async fn() {
    const { socket } = await lab();
    const empty = await tempDir("cre-");
    const settings = await withEnv(
      `unix://${socket}`,
      () => readEndpointSettings(undefined, empty),
    );
    assert.equal(settings.env, `unix://${socket}`);
    assert.equal(settings.crictlYaml, undefined);
    const { client, probe } = await connectRuntime(settings);
    client.close();
    assert.equal(probe.source, "env");
    assert.equal(probe.endpoint, `unix://${socket}`);
    assert.equal(probe.runtimeName, "containerd");
    // An empty variable is no override.
    const unset = await withEnv("", () => readEndpointSettings(undefined, empty));
    assert.equal(unset.env, undefined);
    // The flag beats the variable: a missing flag socket is the error, not the env one.
    const flagged = await withEnv(
      `unix://${socket}`,
      () => readEndpointSettings(join(empty, "flag.sock"), empty),
    );
    await assert.rejects(connectRuntime(flagged), RuntimeUnavailableError);
  },
});

Deno.test({
  name: "readEndpointSettings() reads runtime-endpoint from crictl.yaml under hostRoot",
  ignore: ignoreReal,
  async fn() {
    const { socket } = await lab();
    const hostRoot = await tempDir("crc-");
    await Deno.mkdir(join(hostRoot, "etc"));
    await Deno.writeTextFile(
      join(hostRoot, "etc/crictl.yaml"),
      `runtime-endpoint: unix://${socket}\nimage-endpoint: unix://${socket}\ntimeout: 2\ndebug: false\n`,
    );
    const settings = await withEnv(undefined, () => readEndpointSettings(undefined, hostRoot));
    assert.equal(settings.env, undefined);
    assert.equal(settings.hostRoot, hostRoot);
    const { client, probe } = await connectRuntime(settings);
    client.close();
    assert.equal(probe.source, "crictl.yaml");
    assert.equal(probe.endpoint, `unix://${socket}`);
    assert.equal(probe.status, "ok");
    assert.equal(probe.runtimeName, "containerd");
  },
});

// --- sockets that fail (no root needed) ---------------------------------------------------

/** A unix socket file nobody listens on: a hard link to a listening socket, then closed. */
async function deadSocket(dir: string): Promise<string> {
  const live = join(dir, "live.sock");
  const dead = join(dir, "dead.sock");
  const listener = Deno.listen({ transport: "unix", path: live });
  await Deno.link(live, dead); // Deno unlinks `live` on close; the link stays, unlistened
  listener.close();
  return dead;
}

/** An HTTP/1 server on a unix socket: a socket that answers, but not CRI. */
function httpSocket(path: string): AsyncDisposable {
  const server = Deno.serve(
    { path, onListen: () => {} },
    () => new Response("not a runtime\n", { status: 404 }),
  );
  return { [Symbol.asyncDispose]: () => server.shutdown() };
}

async function assertUnavailable(path: string, status: ProbeStatus): Promise<void> {
  const { probe, error } = await probeEndpoint({ path, source: "flag" }, SHORT_TIMEOUT_MS);
  assert.equal(probe.status, status, `${path}: ${probe.reason}`);
  assert.equal(probe.endpoint, `unix://${path}`);
  assert.ok(probe.reason, "a reason");
  assert.ok(error instanceof RuntimeUnavailableError, String(error));
  await assert.rejects(
    connectRuntime({ flag: path, timeoutMs: SHORT_TIMEOUT_MS }),
    (thrown: unknown) => {
      assert.ok(thrown instanceof RuntimeUnavailableError, `${status}: ${thrown}`);
      assert.equal(thrown.exitCode, 3);
      assert.ok(thrown.message.includes(`"${path}"`), thrown.message);
      assert.ok(!thrown.message.includes("\n"), "one line");
      return true;
    },
  );
}

Deno.test("probeEndpoint() and connectRuntime() report a socket whose listener closed as refused", async () => {
  const dir = await tempDir("crd-");
  await assertUnavailable(await deadSocket(dir), "refused");
});

Deno.test("probeEndpoint() and connectRuntime() report a regular file as not a socket", async () => {
  const dir = await tempDir("crd-");
  const path = join(dir, "containerd.sock");
  await Deno.writeTextFile(path, "");
  await assertUnavailable(path, "not a socket");
  await assertUnavailable(dir, "not a socket");
});

Deno.test("probeEndpoint() and connectRuntime() report a missing path as missing", async () => {
  const dir = await tempDir("crd-");
  await assertUnavailable(join(dir, "containerd.sock"), "missing");
  await assertUnavailable(join(dir, "no/such/dir/containerd.sock"), "missing");
});

Deno.test({
  name:
    "probeEndpoint() and connectRuntime() report an HTTP/1 server that is neither CRI nor Docker as unknown API",
  // gRPC's channel and the server's connection close asynchronously after the test.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await tempDir("crd-");
    const path = join(dir, "http.sock");
    await using _ = httpSocket(path);
    await assertUnavailable(path, "unknown API");
  },
});

Deno.test({
  name:
    "probeEndpoint() and connectRuntime() report a silent socket as no answer within the deadline",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await tempDir("crd-");
    const path = join(dir, "silent.sock");
    await using _ = silentSocket(path);
    const started = performance.now();
    await assertUnavailable(path, "no answer");
    const elapsed = performance.now() - started;
    // Two calls (probe, then connect), each bounded by the 300 ms deadline.
    assert.ok(elapsed >= 2 * SHORT_TIMEOUT_MS - 50, `waited for the deadline: ${elapsed} ms`);
    assert.ok(elapsed < 2000, `returned in well under 3 s per call: ${elapsed} ms`);
    const { error } = await probeEndpoint({ path, source: "flag" }, SHORT_TIMEOUT_MS);
    assert.match(String(error?.message), /did not answer RuntimeService\/Version within 300 ms/);
  },
});

Deno.test("connectRuntime() names every present well-known socket that failed", async () => {
  const hostRoot = await tempDir("crd-");
  const dead = await deadSocket(hostRoot);
  const refused = join(hostRoot, "run/containerd/containerd.sock");
  const notSocket = join(hostRoot, "run/crio/crio.sock");
  await Deno.mkdir(dirname(refused), { recursive: true });
  await Deno.mkdir(dirname(notSocket), { recursive: true });
  await Deno.rename(dead, refused);
  await Deno.writeTextFile(notSocket, "");
  const skipped: string[] = [];
  await assert.rejects(
    connectRuntime({ hostRoot, timeoutMs: SHORT_TIMEOUT_MS }, (line) => skipped.push(line)),
    (error: unknown) => {
      assert.ok(error instanceof RuntimeUnavailableError, String(error));
      assert.match(error.message, /^No container runtime found: /);
      assert.ok(error.message.includes(`"${refused}" (refused)`), error.message);
      assert.ok(error.message.includes(`"${notSocket}" (not a socket)`), error.message);
      return true;
    },
  );
  assert.equal(skipped.length, WELL_KNOWN_ENDPOINTS.length);
  assert.ok(skipped.includes(`skip unix://${refused}: refused`), skipped.join("\n"));
  // Only one present: the same form, naming it.
  await Deno.remove(notSocket);
  await assert.rejects(
    connectRuntime({ hostRoot, timeoutMs: SHORT_TIMEOUT_MS }),
    RuntimeUnavailableError,
    `No container runtime found: "${refused}" (refused); start the runtime, or name its socket`,
  );
});

Deno.test("connectRuntime() with an empty hostRoot throws No container runtime found", async () => {
  const hostRoot = await tempDir("crn-");
  // The caller's XDG_RUNTIME_DIR would add rootless Podman's socket to the count.
  const { xdgRuntimeDir: _, ...settings } = await withEnv(
    undefined,
    () => readEndpointSettings(undefined, hostRoot),
  );
  await assert.rejects(
    connectRuntime(settings),
    (error: unknown) => {
      assert.ok(error instanceof RuntimeUnavailableError, String(error));
      assert.equal(error.exitCode, 3);
      assert.match(
        error.message,
        /^No container runtime found: none of the 12 well-known sockets exists; start the runtime, /,
      );
      assert.match(error.message, /--runtime-endpoint/);
      return true;
    },
  );
  assert.ok((await probeAll(settings)).every((p) => p.status === "missing"));
});

// --- permission denied, as an unprivileged user ------------------------------------------

/**
 * Runs deno as uid/gid 65534 (nobody) with a private copy of the deno cache (the root's is
 * under /root, mode 0700) owned by that user, offline (`--cached-only`).
 */
async function runAsNobody(
  denoDir: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--",
      Deno.execPath(),
      ...args,
    ],
    cwd: REPO,
    env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

let nobodyDenoDir: Promise<string> | undefined;
function denoDirForNobody(): Promise<string> {
  return nobodyDenoDir ??= (async () => {
    const info = JSON.parse(await run(Deno.execPath(), "info", "--json")) as { denoDir: string };
    const dir = await tempDir("crdd-");
    await run("cp", "-a", `${info.denoDir}/.`, dir);
    await run("chown", "-R", `${NOBODY}:${NOBODY}`, dir);
    return dir;
  })();
}

const PROBE_SCRIPT = `
import { connectRuntime, probeEndpoint } from "${REPO}src/runtime/discovery.ts";
const path = Deno.args[0];
const { probe } = await probeEndpoint({ path, source: "flag" }, 3000);
let error;
try { (await connectRuntime({ flag: path })).client.close(); } catch (e) { error = e; }
console.log(JSON.stringify({ status: probe.status, reason: probe.reason,
  name: error?.name, exitCode: error?.exitCode, message: error?.message }));
`;

Deno.test({
  name: "probeEndpoint() and connectRuntime() report permission denied to an unprivileged user",
  ignore: ignoreReal,
  async fn(t) {
    const denoDir = await denoDirForNobody();
    const script = join(denoDir, "probe.ts");
    await Deno.writeTextFile(script, PROBE_SCRIPT);
    await Deno.chmod(script, 0o644);
    const hostRoot = await labHostRoot();
    const { socket } = await lab();
    const cases: [string, string][] = [
      // Reachable directories, socket mode 0660 root:root: connect(2) fails with EACCES.
      ["socket mode 0660", join(hostRoot, "run/containerd/containerd.sock")],
      // The lab directory is 0700: stat(2) itself fails with EACCES.
      ["directory mode 0700", socket],
    ];
    for (const [what, path] of cases) {
      await t.step(what, async () => {
        const out = await runAsNobody(denoDir, [
          "run",
          "-A",
          "--cached-only",
          "--config",
          join(REPO, "deno.json"),
          script,
          path,
        ]);
        assert.equal(out.code, 0, out.stderr);
        const result = JSON.parse(out.stdout) as Record<string, unknown>;
        assert.equal(result["status"], "permission denied", JSON.stringify(result));
        assert.equal(result["name"], PermissionError.name);
        assert.equal(result["exitCode"], 4);
        assert.ok(String(result["message"]).includes(`"${path}"`), String(result["message"]));
      });
    }
  },
});

Deno.test({
  name: "crienrich runtimes run by an unprivileged user reports permission denied and exits 4",
  ignore: ignoreReal,
  async fn() {
    const denoDir = await denoDirForNobody();
    const path = join(await labHostRoot(), "run/containerd/containerd.sock");
    const out = await runAsNobody(denoDir, [
      "run",
      "-A",
      "--cached-only",
      "src/main.ts",
      "runtimes",
      "-o",
      "json",
      "-r",
      path,
    ]);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines.length, 1, out.stdout);
    const row = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(row["endpoint"], `unix://${path}`);
    assert.equal(row["status"], "permission denied");
    assert.equal(out.code, 4, `exit code (stderr: ${out.stderr.trim()})`);
  },
});
