/**
 * containerd's own API, for real: a container that `ctr run` starts in containerd namespace
 * `default` (outside Kubernetes) beside the lab's CRI pods, on the same socket. `runtimes`
 * shows the socket in both APIs; `ps` lists the `ctr` container once (runtime containerd,
 * pod null, its namespace) and each CRI container once, with its pod; `inspect` finds it by
 * id, id prefix and pid; `-n default` selects it.
 */
import assert from "node:assert/strict";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";
import { runFooAndBar } from "../harness/pods.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

realTest(
  "containerd's own API lists a ctr container of namespace default beside CRI pods",
  async (t) => {
    await withLab(async (lab) => {
      const { app, db } = await runFooAndBar(lab);
      // 64 hex digits, as nerdctl makes them: cgroup paths name only such ids.
      const id = crypto.randomUUID().replaceAll("-", "").repeat(2);
      const pid = await lab.runCtr(id, { labels: { tier: "batch" } });
      const r = ["-r", lab.socket];

      await t.step("runtimes shows the socket in CRI and in containerd's API", async () => {
        const result = await runCli(["runtimes", ...r, "-o", "json"]);
        assert.equal(result.code, 0, result.stderr);
        const rows = result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
        assert.deepEqual(rows.map((row) => [row.kind, row.status, row.runtime_name]), [
          ["cri", "ok", "containerd"],
          ["containerd", "ok", "containerd"],
        ]);
      });

      await t.step(
        "ps lists the ctr container once, runtime containerd, namespace default",
        async () => {
          const list = records(await runCli(["ps", ...r, "-o", "json"]));
          const ids = list.map((record) => record.id);
          assert.equal(new Set(ids).size, ids.length, `duplicates: ${ids}`);
          const ctr = list.find((record) => record.id === id);
          assert.ok(ctr, `not listed: ${ids}`);
          assert.equal(ctr.runtime, "containerd");
          assert.equal(ctr.pod, null);
          assert.equal(ctr.containerd_namespace, "default");
          assert.equal(ctr.name, id);
          assert.equal(ctr.image, "crienrich.local/busybox:1");
          assert.equal(ctr.labels["tier"], "batch");
          assert.equal(ctr.state, "running");
          assert.equal(ctr.pid, pid);
          assert.equal(ctr.cgroup_path, `/default/${id}`);
          assert.equal(typeof ctr.cgroup_id, "number");
          assert.equal(typeof ctr.mntns_id, "number");
          for (const cri of [app, db]) {
            const record = list.find((candidate) => candidate.id === cri);
            assert.equal(record?.pod?.namespace, "demo", `CRI container ${cri}`);
            assert.equal(record?.containerd_namespace, undefined);
          }
          // No sandbox of the CRI pods is listed as a container, through either API.
          assert.equal(list.length, 3, ids.join(", "));
        },
      );

      await t.step("the table shows its namespace; -n default selects it alone", async () => {
        const table = await runCli(["ps", ...r, "-n", "default"]);
        assert.equal(table.code, 0, table.stderr);
        const lines = table.stdout.trim().split("\n");
        assert.equal(lines.length, 2, table.stdout);
        assert.match(
          lines[1]!,
          new RegExp(`^${id.slice(0, 13)}\\s.*\\sdefault\\s+running\\s.*containerd$`),
        );
      });

      await t.step("inspect finds it by id, id prefix and pid", async () => {
        for (const query of [id, id.slice(0, 20), `pid:${pid}`]) {
          const result = await runCli(["inspect", ...r, query]);
          assert.equal(result.code, 0, `${query}: ${result.stderr}`);
          const record: ContainerRecord = JSON.parse(result.stdout);
          assert.equal(record.id, id, query);
          assert.equal(record.containerd_namespace, "default", query);
        }
      });
    });
  },
);
