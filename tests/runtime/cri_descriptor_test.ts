import assert from "node:assert/strict";
import { renderDescriptorModule } from "../../scripts/gen_proto.ts";

Deno.test("cri_descriptor.gen.ts is fresh against proto/cri.proto", async () => {
  const proto = new URL("../../proto/cri.proto", import.meta.url).pathname;
  const generated = new URL("../../src/runtime/cri_descriptor.gen.ts", import.meta.url);
  assert.equal(
    await Deno.readTextFile(generated),
    renderDescriptorModule(proto),
    "stale: run `deno task proto`",
  );
});
