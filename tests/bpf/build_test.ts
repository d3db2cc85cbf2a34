import assert from "node:assert/strict";
import * as layout from "../../src/bpf/event_layout.gen.ts";
import { OBJECT_BYTES, OBJECT_SHA256 } from "../../src/bpf/object.gen.ts";
import { CI } from "./_kernel.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readFileSync(new URL(path, root));

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hasTool(name: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const TOOLS = ["clang", "llvm-strip", "bpftool"];
const missingTools = TOOLS.filter((t) => !hasTool(t));

Deno.test("event_layout.gen.ts records the hashes of the current sources", async () => {
  const stale = [];
  for (const [path, recorded] of Object.entries(layout.SOURCE_SHA256)) {
    if (await sha256(read(path)) !== recorded) stale.push(path);
  }
  assert.deepEqual(stale, [], `changed since the last \`deno task bpf\`: ${stale.join(", ")}`);
});

Deno.test("object.gen.ts embeds the committed bpf/crienrich.bpf.o", async () => {
  const committed = read("bpf/crienrich.bpf.o");
  assert.equal(await sha256(committed), layout.OBJECT_SHA256);
  assert.equal(OBJECT_SHA256, layout.OBJECT_SHA256);
  assert.deepEqual(OBJECT_BYTES, committed);
});

Deno.test({
  name: "bpf_build.sh rebuilds byte-identical outputs from the committed sources",
  ignore: missingTools.length > 0 && !CI,
  async fn() {
    assert.deepEqual(missingTools, [], "the BPF toolchain is needed");
    const out = await Deno.makeTempDir({ prefix: "crienrich-bpf-" });
    try {
      const build = await new Deno.Command("bash", {
        args: [new URL("scripts/bpf_build.sh", root).pathname, "--out", out],
        env: { DENO: Deno.execPath() },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(build.success, new TextDecoder().decode(build.stderr));
      const fresh = await import(`${out}/event_layout.gen.ts`);
      if (fresh.TOOLCHAIN !== layout.TOOLCHAIN && !CI) {
        // Another compiler emits other bytes: only the source hashes can be compared.
        Deno.stderr.writeSync(new TextEncoder().encode(
          `build_test: toolchain differs (${fresh.TOOLCHAIN}), byte comparison skipped\n`,
        ));
        return;
      }
      assert.equal(fresh.TOOLCHAIN, layout.TOOLCHAIN, "toolchain of the committed build");
      const pairs = [
        ["bpf/crienrich.bpf.o", "crienrich.bpf.o"],
        ["src/bpf/event_layout.gen.ts", "event_layout.gen.ts"],
        ["src/bpf/object.gen.ts", "object.gen.ts"],
      ];
      for (const [committed, built] of pairs) {
        const same = (await sha256(read(committed!))) ===
          (await sha256(Deno.readFileSync(`${out}/${built}`)));
        assert.ok(same, `"${committed}" is stale: run \`deno task bpf\``);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
