/**
 * scripts/setup.sh installs only what is missing, without upgrading anything, quietly: a
 * stand-in `dpkg-query` and `apt-get` on PATH record what it asks apt for.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const setup = fileURLToPath(new URL("../../scripts/setup.sh", import.meta.url));
const denoBin = fileURLToPath(new URL("../../.tools/node_modules/.bin/deno", import.meta.url));

/**
 * A PATH holding fake dpkg-query/apt-get: packages listed in `$dir/installed` are installed;
 * `apt-get install` appends its arguments to `$dir/apt.calls`, prints apt-like progress (which
 * must land in the log) and installs the packages.
 */
async function fakeApt(dir: string, installed: string[]): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin, { recursive: true });
  await Deno.writeTextFile(join(dir, "installed"), installed.map((p) => `${p}\n`).join(""));
  await Deno.writeTextFile(
    join(bin, "dpkg-query"),
    `#!/bin/sh
pkg=$(eval echo \\$$#)
grep -qx "$pkg" "${dir}/installed" || exit 1
case "$2" in *Version*) printf '1.0-test' ;; *) printf 'install ok installed' ;; esac
`,
  );
  await Deno.writeTextFile(
    join(bin, "apt-get"),
    `#!/bin/sh
echo "$*" >> "${dir}/apt.calls"
echo "Reading package lists... Done"
[ "$1" = update ] && exit 0
for a in "$@"; do case "$a" in -*|install) ;; *) echo "$a" >> "${dir}/installed" ;; esac; done
echo "Setting up packages..."
`,
  );
  for (const f of ["dpkg-query", "apt-get"]) await Deno.chmod(join(bin, f), 0o755);
  return `${bin}:${Deno.env.get("PATH")}`;
}

async function runSetup(dir: string, path: string) {
  const out = await new Deno.Command("bash", {
    args: [setup],
    env: { PATH: path, CRIENRICH_SETUP_LOG: join(dir, "setup.log") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

const ALL = [
  "containerd",
  "runc",
  "docker.io",
  "podman",
  "busybox-static",
  "libbpf1",
  "libbpf-dev",
  "bpftool",
  "clang",
  "llvm",
  "procps",
  "iproute2",
  "util-linux",
];

Deno.test({
  name:
    "setup.sh installs only the missing packages, --no-upgrade, one line each, apt's output in the log",
  ignore: !(await Deno.stat(denoBin).then(() => true, () => false)),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "crs-" });
    try {
      const path = await fakeApt(dir, ALL.filter((p) => p !== "bpftool" && p !== "runc"));
      const first = await runSetup(dir, path);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `${denoBin}\n`);
      assert.equal(
        first.stderr,
        "setup: installed runc 1.0-test\nsetup: installed bpftool 1.0-test\n",
      );
      const calls = (await Deno.readTextFile(join(dir, "apt.calls"))).trim().split("\n");
      assert.deepEqual(calls, [
        "update -qq",
        "install -y -qq --no-upgrade -o Dpkg::Use-Pty=0 runc bpftool",
      ]);
      const log = await Deno.readTextFile(join(dir, "setup.log"));
      assert.match(log, /apt-get install runc bpftool\n/);
      assert.match(log, /Setting up packages\.\.\./);

      // Everything present: silent, and apt is not called at all.
      await Deno.remove(join(dir, "apt.calls"));
      const second = await runSetup(dir, path);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stderr, "");
      assert.equal(second.stdout, `${denoBin}\n`);
      assert.equal(await Deno.stat(join(dir, "apt.calls")).then(() => true, () => false), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "setup.sh says in one line when apt fails, and where its output is",
  ignore: !(await Deno.stat(denoBin).then(() => true, () => false)),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "crs-" });
    try {
      const path = await fakeApt(dir, ALL.filter((p) => p !== "clang"));
      await Deno.writeTextFile(
        join(dir, "bin", "apt-get"),
        `#!/bin/sh\necho "E: Unable to locate package $*"; exit 100\n`,
      );
      const result = await runSetup(dir, path);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr,
        `setup: 'apt-get update -qq' failed; see ${join(dir, "setup.log")}\n`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
