/**
 * `crienrich runtimes` run for real, as a subprocess (`deno run -A src/main.ts runtimes ...`),
 * against a private containerd (scripts/lab) and sockets that fail. The lab needs root;
 * under `CI=true` those tests run (and fail) instead of being skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Lab } from "../../scripts/lab/lab.ts";
import { silentSocket } from "../harness/sockets.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const isRoot = Deno.uid() === 0;
const ignoreReal = !isRoot && Deno.env.get("CI") !== "true";

let labStarted: Promise<Lab> | undefined;
function lab(): Promise<Lab> {
  assert.ok(isRoot, "this test needs root: it starts a private containerd (scripts/lab)");
  return labStarted ??= Lab.start();
}

Deno.test.afterAll(async () => {
  if (labStarted) await (await labStarted).stop();
});

interface CliResult {
  code: number;
  stdout: string;
  /** stderr split into lines, without the trailing empty one. */
  stderrLines: string[];
}

/** Runs `crienrich <args>` with CONTAINER_RUNTIME_ENDPOINT set to `env` (else unset). */
async function crienrich(args: string[], env?: string): Promise<CliResult> {
  const environment = Deno.env.toObject();
  delete environment["CONTAINER_RUNTIME_ENDPOINT"];
  if (env !== undefined) environment["CONTAINER_RUNTIME_ENDPOINT"] = env;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/main.ts", ...args],
    cwd: REPO,
    env: { ...environment, NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const stderr = decode(out.stderr);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderrLines: stderr === "" ? [] : stderr.replace(/\n$/, "").split("\n"),
  };
}

function ndjson(stdout: string): Record<string, unknown>[] {
  assert.ok(stdout.endsWith("\n"), "every line ends with a newline");
  return stdout.slice(0, -1).split("\n").map((line) => JSON.parse(line));
}

async function containerdVersion(): Promise<string | undefined> {
  const out = await new Deno.Command("containerd", { args: ["--version"] }).output();
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/)[2];
}

Deno.test({
  name: "runtimes -o json -r <socket> prints the lab containerd in CRI and in its own API, exit 0",
  ignore: ignoreReal,
  async fn() {
    const { socket } = await lab();
    const result = await crienrich(["runtimes", "-o", "json", "-r", socket]);
    assert.deepEqual(result.stderrLines, []);
    assert.equal(result.code, 0);
    const rows = ndjson(result.stdout);
    const row = {
      endpoint: `unix://${socket}`,
      source: "flag",
      used_by: null,
      status: "ok",
      reason: null,
      kind: "cri",
      runtime_name: "containerd",
      runtime_version: await containerdVersion(),
      api_version: "v1",
      cri_api_version: "v1",
      also_at: [],
    };
    // The same socket serves containerd's own API (its other namespaces' containers).
    assert.deepEqual(rows, [row, { ...row, kind: "containerd", cri_api_version: null }]);
  },
});

Deno.test({
  name: "runtimes prints a table for the endpoint named by CONTAINER_RUNTIME_ENDPOINT, exit 0",
  ignore: ignoreReal,
  async fn() {
    const { socket } = await lab();
    const result = await crienrich(["runtimes"], `unix://${socket}`);
    assert.deepEqual(result.stderrLines, []);
    assert.equal(result.code, 0);
    const [header, row, own, ...rest] = result.stdout.trimEnd().split("\n");
    assert.deepEqual(rest, []);
    assert.deepEqual(header?.split(/\s{2,}/), [
      "ENDPOINT",
      "SOURCE",
      "STATUS",
      "KIND",
      "RUNTIME",
      "VERSION",
      "API",
      "USED BY",
    ]);
    assert.deepEqual(row?.trimEnd().split(/\s{2,}/), [
      `unix://${socket}`,
      "env",
      "ok",
      "cri",
      "containerd",
      await containerdVersion(),
      "v1",
    ]);
    assert.deepEqual(own?.trimEnd().split(/\s+/), [
      `unix://${socket}`,
      "env",
      "ok",
      "containerd",
      "containerd",
      await containerdVersion(),
      "v1",
    ]);
  },
});

Deno.test("runtimes -r /nonexistent.sock exits 3 with one stderr line", async () => {
  const result = await crienrich(["runtimes", "-o", "json", "-r", "/nonexistent.sock"]);
  const [row] = ndjson(result.stdout);
  assert.equal(row?.["status"], "missing");
  assert.equal(row?.["endpoint"], "unix:///nonexistent.sock");
  assert.equal(result.code, 3);
  assert.equal(result.stderrLines.length, 1, `stderr: ${JSON.stringify(result.stderrLines)}`);
  const [line = ""] = result.stderrLines;
  assert.equal(
    line,
    'crienrich: No container runtime found: "/nonexistent.sock" (missing); check the endpoint named by --runtime-endpoint, or start the runtime',
  );
});

Deno.test({
  name: "runtimes --timeout reports a silent socket as no answer, exit 3, within the deadline",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "crr-" });
    const path = join(dir, "silent.sock");
    try {
      await using _silent = silentSocket(path);
      const started = performance.now();
      const result = await crienrich([
        "runtimes",
        "-o",
        "json",
        "--timeout",
        "300ms",
        "-r",
        `unix://${path}`,
      ]);
      const elapsed = performance.now() - started;
      const [row] = ndjson(result.stdout);
      assert.equal(row?.["status"], "no answer");
      assert.match(String(row?.["reason"]), /within 300 ms/);
      assert.equal(result.code, 3);
      // Deno's start-up included; far below the 3 s default deadline plus start-up.
      assert.ok(elapsed < 2500, `took ${elapsed} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("runtimes --bogus exits 2 with one stderr line and no output", async () => {
  const result = await crienrich(["runtimes", "--bogus"]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.equal(result.stderrLines.length, 1, result.stderrLines.join("\n"));
  assert.equal(
    result.stderrLines[0],
    'crienrich: Unknown flag "--bogus" (see "crienrich runtimes --help")',
  );
});

Deno.test("runtimes rejects a tcp:// endpoint and a bad format with exit 2", async () => {
  for (
    const args of [
      ["runtimes", "-r", "tcp://10.0.0.1:1234"],
      ["runtimes", "-o", "yaml", "-r", "/nonexistent.sock"],
      ["runtimes", "--timeout", "soon", "-r", "/nonexistent.sock"],
    ]
  ) {
    const result = await crienrich(args);
    assert.equal(result.code, 2, args.join(" "));
    assert.equal(result.stdout, "");
    assert.equal(result.stderrLines.length, 1, result.stderrLines.join("\n"));
    assert.match(result.stderrLines[0]!, /^crienrich: /);
  }
});
