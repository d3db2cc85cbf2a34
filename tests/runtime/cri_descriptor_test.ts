import assert from "node:assert/strict";
import { DESCRIPTOR_TARGETS, renderDescriptorModule } from "../../scripts/gen_proto.ts";

for (const target of DESCRIPTOR_TARGETS) {
  Deno.test(`${target.name} (gen_proto.ts) is fresh against ${target.from}`, async () => {
    assert.equal(
      await Deno.readTextFile(target.out),
      renderDescriptorModule(target.protos, target),
      "stale: run `deno task proto`",
    );
  });
}
