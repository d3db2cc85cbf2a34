/**
 * `deno task bundle` end to end: the bundle is built, ONLY `crienrich.js` is copied to a fresh
 * directory outside the repository, and run from there by a Deno with an empty DENO_DIR and
 * HOME, `--cached-only` (so any download would fail), no deno.json or node_modules around it,
 * and the permission set of `deno task compile` (scripts/compile.sh: `--allow-all`, see there
 * why nothing narrower works). Against a private containerd and pods created as the kubelet
 * does: `runtimes`, `ps` and a short `trace` while an ExecSync runs in the pod.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { realTest, withLab } from "../harness/real.ts";
import { ExitCode } from "../../src/errors.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
/** The permissions scripts/compile.sh gives the binary. */
const PERMISSIONS = ["--allow-all"];
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Builds the bundle with `deno task bundle -o` into a temp dir; returns its path. */
async function buildBundle(): Promise<string> {
  const out = `${await Deno.makeTempDir({ prefix: "crienrich-build-" })}/crienrich.js`;
  const build = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "bundle", "-o", out],
    cwd: repo,
    env: { DENO: Deno.execPath(), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(build.code, 0, decode(build.stderr));
  return out;
}

/** A directory outside the repository holding only the bundle, plus an empty DENO_DIR/HOME. */
interface Isolated {
  dir: string;
  bundle: string;
  env: Record<string, string>;
}

async function isolate(built: string): Promise<Isolated> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "crienrich-bundle-" });
  assert.ok(!dir.startsWith(repo));
  const bundle = `${dir}/crienrich.js`;
  await Deno.copyFile(built, bundle);
  const home = await Deno.makeTempDir({ prefix: "crienrich-home-" });
  return {
    dir,
    bundle,
    env: { HOME: home, DENO_DIR: `${home}/deno`, PATH: "/usr/bin:/bin", NO_COLOR: "1" },
  };
}

function command(iso: Isolated, args: string[], permissions = PERMISSIONS): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--cached-only", ...permissions, iso.bundle, ...args],
    cwd: iso.dir,
    clearEnv: true,
    env: iso.env,
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(iso: Isolated, args: string[], permissions = PERMISSIONS) {
  const output = await command(iso, args, permissions).output();
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("deno task bundle writes one module importing only node: built-ins", async () => {
  const built = await buildBundle();
  try {
    const text = await Deno.readTextFile(built);
    assert.ok(text.startsWith("#!/usr/bin/env -S deno run --allow-all"), "shebang");
    const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?from\s*"([^"]+)"/gm)]
      .map((m) => m[1]!);
    assert.ok(specifiers.length > 0);
    for (const specifier of specifiers) assert.match(specifier, /^node:/);
    assert.ok(!/\bfrom\s*"(?:npm|jsr|https?|file):/.test(text));
    // The embedded BPF object and CRI descriptor are in it, not read from the tree.
    assert.ok(text.includes('"f0VMRgIBAQ'), "the BPF object (base64 of an ELF header)");
    assert.ok(text.includes('"RuntimeService"'));
  } finally {
    await Deno.remove(built.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

realTest("the bundle alone runs runtimes, ps and trace against containerd", async (t) => {
  const built = await buildBundle();
  const iso = await isolate(built);
  try {
    await t.step("--help works with an empty DENO_DIR and --cached-only", async () => {
      const help = await run(iso, ["--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^crienrich /);
    });

    await withLab(async (lab) => {
      const pod = await lab.runPod({
        name: "shipped",
        namespace: "bundle",
        labels: { app: "bundle" },
        cgroupParent: "kubelet",
      });
      const app = await lab.runContainer(pod, "app");
      const appStatus = await lab.client.containerStatus(app);
      const appPid = JSON.parse(appStatus.info.info!).pid as number;

      await t.step("runtimes -o json -r SOCK names containerd and its version", async () => {
        const r = await run(iso, ["runtimes", "-o", "json", "-r", lab.socket]);
        assert.equal(r.code, ExitCode.Ok, r.stderr);
        const rows = r.stdout.trim().split("\n").map((line) => JSON.parse(line));
        // The socket in CRI and in containerd's own API (embedded descriptors, both).
        assert.deepEqual(rows.map((row) => [row.kind, row.status]), [
          ["cri", "ok"],
          ["containerd", "ok"],
        ]);
        assert.equal(rows[0].runtime_name, "containerd");
        assert.match(rows[0].runtime_version, /^\d+\.\d+/);
        assert.equal(rows[0].endpoint, `unix://${lab.socket}`);
      });

      await t.step("ps -o json lists the pod's container with its pid", async () => {
        const r = await run(iso, ["ps", "-o", "json", "-r", lab.socket, "-n", "bundle"]);
        assert.equal(r.code, ExitCode.Ok, r.stderr);
        const records = r.stdout.trim().split("\n").map((line) => JSON.parse(line));
        assert.equal(records.length, 1, r.stdout);
        assert.equal(records[0].id, app);
        assert.equal(records[0].name, "app");
        assert.equal(records[0].pod.name, "shipped");
        assert.equal(records[0].pod.namespace, "bundle");
        assert.equal(records[0].pod.uid, pod.uid);
        assert.equal(records[0].pid, appPid);
        assert.equal(typeof records[0].mntns_id, "number");
      });

      await t.step("trace --count 1 reports an ExecSync in the pod, enriched", async () => {
        const child = command(iso, [
          "trace",
          "--pod",
          "shipped",
          "-n",
          "bundle",
          "-o",
          "json",
          "--events",
          "exec",
          "--count",
          "1",
          "--duration",
          "60s",
          "-r",
          lab.socket,
        ]).spawn();
        const stdout = new Response(child.stdout).text();
        const stderrLines: string[] = [];
        const stderrDone = (async () => {
          for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
            stderrLines.push(...chunk.split("\n").filter(Boolean));
          }
        })();
        let exited = false;
        const status = child.status.finally(() => exited = true);
        // Exec only once the programs are attached; again until the trace stops, in case
        // the first exec raced the attach.
        const deadline = Date.now() + 30_000;
        while (!stderrLines.some((l) => l.startsWith("crienrich: tracing")) && !exited) {
          assert.ok(Date.now() < deadline, `trace never attached: ${stderrLines.join("\n")}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        while (!exited && Date.now() < deadline) {
          await lab.exec(app, ["/bin/echo", "shipped-by-bundle"]);
          await Promise.race([status, new Promise((r) => setTimeout(r, 500))]);
        }
        const { code } = await status;
        await stderrDone;
        assert.equal(code, ExitCode.Ok, stderrLines.join("\n"));
        const events = (await stdout).trim().split("\n").map((line) => JSON.parse(line));
        assert.equal(events.length, 1);
        const [exec] = events;
        assert.equal(exec.type, "exec");
        assert.deepEqual(exec.process.args, ["/bin/echo", "shipped-by-bundle"]);
        assert.equal(exec.pod?.name, "shipped");
        assert.equal(exec.pod?.namespace, "bundle");
        assert.deepEqual(exec.pod?.labels, { app: "bundle" });
        assert.equal(exec.container?.id, app);
        assert.equal(exec.container?.name, "app");
      });

      await t.step("a narrower permission set is refused: Deno gates /proc behind -A", async () => {
        // Why scripts/compile.sh grants --allow-all: every permission given separately, but
        // --allow-run and --allow-import left out, and Deno refuses /proc (CVE-2024-34346).
        const narrow = [
          "--allow-ffi",
          "--allow-read",
          "--allow-write",
          "--allow-net",
          "--allow-env",
          "--allow-sys",
        ];
        const r = await run(iso, ["ps", "-o", "json", "-r", lab.socket], narrow);
        assert.equal(r.code, ExitCode.PermissionDenied, r.stderr);
        assert.match(r.stderr, /^crienrich: [^\n]*Requires all access to "\/proc[/"][^\n]*\n$/);
      });
    });
  } finally {
    await Deno.remove(iso.dir, { recursive: true });
    await Deno.remove(iso.env.HOME!, { recursive: true });
    await Deno.remove(built.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});
