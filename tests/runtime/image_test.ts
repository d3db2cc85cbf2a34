/**
 * The record's `image` and `image_id` (in `ps`, `inspect` and `trace`) against a real
 * private containerd (scripts/lab): one
 * image under two names plus a container created by image id. containerd 1.6's
 * ContainerStatus names all three by the image's first tag in sort order, so the requested
 * name must come from elsewhere (ListContainers). Needs root; under `CI=true` the tests run
 * (and fail) instead of being skipped.
 */
import assert from "node:assert/strict";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";
import { ContainerInventory } from "../../src/runtime/inventory.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { LAB_IMAGE } from "../../scripts/lab/lab.ts";
import { TraceProcess } from "../harness/trace_process.ts";

/** Second name of the lab image; sorts before LAB_IMAGE, so it is the image's first tag. */
const ALIAS = "crienrich.local/alias:2";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

realTest("ps, inspect and the record show the image each container was created from", async (t) => {
  await withLab(async (lab) => {
    await lab.tagImage(LAB_IMAGE, ALIAS);
    const imageId = await lab.imageId(LAB_IMAGE);
    assert.equal(await lab.imageId(ALIAS), imageId, "one image, two names");
    const pod = await lab.runPod({ name: "images", namespace: "demo" });
    const requested: Record<string, string> = {
      [await lab.runContainer(pod, "by-name", undefined, LAB_IMAGE)]: LAB_IMAGE,
      [await lab.runContainer(pod, "by-alias", undefined, ALIAS)]: ALIAS,
      [await lab.runContainer(pod, "by-id", undefined, imageId)]: imageId,
    };
    const endpoint = `unix://${lab.socket}`;

    await t.step(
      "ListContainers gives the image as created; containerd 1.6's status does not",
      async () => {
        const { runtimeVersion } = await lab.client.version();
        const listed = await lab.client.listContainers();
        for (const [id, image] of Object.entries(requested)) {
          assert.equal(listed.find((c) => c.id === id)?.image?.image, image);
          const { status } = await lab.client.containerStatus(id);
          // containerd 1.6 answers with the image's first tag in sort order and drops
          // user_specified_image; the docs of ContainerRecord.image rely on this.
          if (runtimeVersion.startsWith("1.6.")) assert.equal(status?.image?.image, ALIAS);
        }
      },
    );

    await t.step("ps -o json", async () => {
      const all = records(await runCli(["ps", "-o", "json", "-r", endpoint]));
      assert.equal(all.length, 3);
      for (const record of all) {
        assert.equal(record.image, requested[record.id], record.name);
        assert.equal(record.image_id, imageId, record.name);
      }
    });

    await t.step("trace -o json", async () => {
      const trace = new TraceProcess(
        ["--pod", "images", "-n", "demo", "--events", "exec", "--duration", "60s"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: tracing pod "images"/);
      for (const id of Object.keys(requested)) {
        await lab.exec(id, ["/bin/echo", `image-marker-${id}`]);
      }
      await new Promise((r) => setTimeout(r, 1000));
      trace.child.kill("SIGINT");
      const { events } = await trace.finish();
      for (const [id, image] of Object.entries(requested)) {
        const exec = events.find((e) => e.process.args?.[1] === `image-marker-${id}`);
        assert.ok(exec, `the exec in ${id}`);
        assert.equal(exec.container?.id, id);
        assert.equal(exec.container?.image, image);
        assert.equal(exec.container?.image_id, imageId);
      }
    });

    await t.step("inspect", async () => {
      for (const [id, image] of Object.entries(requested)) {
        const result = await runCli(["inspect", id, "-r", endpoint]);
        assert.equal(result.code, 0, result.stderr);
        const record: ContainerRecord = JSON.parse(result.stdout);
        assert.equal(record.image, image);
        assert.equal(record.image_id, imageId);
      }
    });

    await t.step("ContainerInventory.list() and get()", async () => {
      const inventory = new ContainerInventory(lab.client, {
        runtimeName: "containerd",
        runtimeEndpoint: endpoint,
      });
      for (const record of await inventory.list()) {
        assert.equal(record.image, requested[record.id], record.name);
        assert.equal(record.image_id, imageId, record.name);
        assert.equal(record.image_ref, imageId, "no repo digest: containerd gives the id");
      }
      const byId = Object.keys(requested).find((id) => requested[id] === imageId)!;
      assert.equal((await inventory.get(byId)).image, imageId);
    });
  });
});
