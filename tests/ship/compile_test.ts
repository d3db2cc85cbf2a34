/**
 * `deno task compile` (scripts/compile.sh) where denort cannot be fetched. The download is
 * made to fail on any machine by routing it to a closed local port (HTTPS_PROXY), so the
 * test means the same here, where dl.deno.land does not resolve, and on a connected machine.
 * A denort already in Deno's download cache, or a DENORT_BIN, makes the compile succeed
 * offline instead: that branch is asserted when it applies.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const TARGET = "x86_64-unknown-linux-gnu";
const UNREACHABLE = "http://127.0.0.1:9"; // discard port: nothing listens there

/** `deno task compile -o OUT` with env; DENORT_BIN removed unless given. */
async function compile(out: string, env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", "-o", out],
    cwd: repo,
    env: {
      DENO: Deno.execPath(),
      NO_COLOR: "1",
      HTTPS_PROXY: UNREACHABLE,
      HTTP_PROXY: UNREACHABLE,
      NO_PROXY: "",
      DENORT_BIN: "",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Where Deno caches the denort it downloads (its `dl/` directory). */
function cachedDenort(): string | undefined {
  const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const path = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${TARGET}.zip`;
  try {
    Deno.statSync(path);
    return path;
  } catch {
    return undefined;
  }
}

Deno.test("deno task compile without a reachable denort fails with one DENORT_BIN line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crienrich-compile-" });
  try {
    const out = `${dir}/crienrich`;
    const result = await compile(out);
    if (cachedDenort()) {
      assert.equal(result.code, 0, result.stderr);
      const help = await new Deno.Command(out, { args: ["--help"], stdout: "piped" }).output();
      assert.match(decode(help.stdout), /^crienrich /);
      return;
    }
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `compile: cannot download denort (the runtime deno compile embeds) from dl.deno.land: ` +
        `the host is unreachable here; set DENORT_BIN to a denort ${Deno.version.deno} binary ` +
        `for ${TARGET} (from denort-${TARGET}.zip of Deno v${Deno.version.deno}) and run again\n`,
    );
    assert.equal(result.stdout, "");
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no output file left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile rejects a DENORT_BIN that is missing or is the deno CLI", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crienrich-compile-" });
  try {
    const out = `${dir}/crienrich`;
    const missing = await compile(out, { DENORT_BIN: `${dir}/no-such-denort` });
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      `compile: DENORT_BIN is set to "${dir}/no-such-denort", which is not a file\n`,
    );

    // The full deno CLI is accepted by `deno compile` as a base binary, but the result runs
    // as deno, not as crienrich: the script's smoke test must catch it and remove the file.
    const cli = await compile(out, { DENORT_BIN: Deno.execPath() });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^compile: "[^"]+" does not run as crienrich \(is DENORT_BIN=/);
    assert.equal(cli.stderr.split("\n").length, 2, "one line");
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
