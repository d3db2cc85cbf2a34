import assert from "node:assert/strict";
import { mountNamespaceIdOfPid, mountNamespacesInUse } from "../../src/runtime/proc.ts";

Deno.test("mountNamespacesInUse() lists this process's namespace with a live pid in it", async () => {
  const own = await mountNamespaceIdOfPid(Deno.pid);
  const inUse = await mountNamespacesInUse();
  const pid = inUse.get(own);
  assert.ok(pid !== undefined, "own mount namespace listed");
  assert.equal(await mountNamespaceIdOfPid(pid), own);
  for (const [id, somePid] of [...inUse].slice(0, 20)) {
    assert.equal(await mountNamespaceIdOfPid(somePid).catch(() => id), id);
  }
});
