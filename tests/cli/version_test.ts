/**
 * `crienrich version` as a subprocess: each value checked against an independent source
 * (deno.json, `uname -r`, the Debian libbpf package), and the version embedded in a bundle
 * run away from the source tree.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../harness/real.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function output(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${decode(out.stderr)}`);
  return decode(out.stdout).trim();
}

/** The version field of deno.json, read as a file (the command gets it from its module graph). */
async function projectVersion(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json"))) as {
    version: string;
  };
  return config.version;
}

/** `major.minor` of the installed Debian libbpf1 package (`1:1.1.2-0+deb12u1` → `1.1`). */
async function packagedLibbpf(): Promise<string> {
  const version = await output("dpkg-query", "-W", "-f", "${Version}", "libbpf1");
  return /^(?:\d+:)?(\d+\.\d+)/.exec(version)?.[1] ?? version;
}

Deno.test("version prints key: value lines matching deno.json, Deno, uname and libbpf", async () => {
  const result = await runCli(["version"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.deepEqual(result.stdout.trimEnd().split("\n"), [
    `crienrich: ${await projectVersion()}`,
    `deno: ${Deno.version.deno}`,
    `v8: ${Deno.version.v8}`,
    `typescript: ${Deno.version.typescript}`,
    `libbpf: ${await packagedLibbpf()}`,
    `kernel: ${await output("uname", "-r")}`,
    `arch: ${await output("uname", "-m")}`,
  ]);
});

Deno.test("version -o json prints one object; a missing libbpf is null, still exit 0", async () => {
  const result = await runCli(["version", "-o", "json", "--libbpf", "/nonexistent/libbpf.so.1"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const lines = result.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    crienrich: await projectVersion(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libbpf: null,
    kernel: await output("uname", "-r"),
    arch: await output("uname", "-m"),
  });
  const table = await runCli(["version", "--libbpf", "/nonexistent/libbpf.so.1"]);
  assert.equal(table.code, 0);
  assert.ok(table.stdout.includes("\nlibbpf: not found\n"), table.stdout);
});

Deno.test("version rejects a bad format with exit 2 and one stderr line", async () => {
  const result = await runCli(["version", "-o", "yaml"]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.equal(result.stderr, 'crienrich: Invalid -o "yaml": expected one of table, json\n');
});

Deno.test("version is embedded: a bundle run outside the source tree still knows it", async () => {
  // deno compile cannot fetch its runtime here; `deno bundle` walks the same module graph
  // (deno.json is a JSON module in it), so a bundle proves nothing is read at run time.
  const dir = await Deno.makeTempDir({ prefix: "crver-" });
  try {
    const bundle = join(dir, "crienrich.js");
    await output(Deno.execPath(), "bundle", "--quiet", "-o", bundle, join(REPO, "src/main.ts"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", bundle, "version", "-o", "json"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, decode(out.stderr));
    const info = JSON.parse(decode(out.stdout)) as Record<string, unknown>;
    assert.equal(info["crienrich"], await projectVersion());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
