/**
 * containerd's own API, for real: a container that `ctr run` starts in containerd namespace
 * `default` (outside Kubernetes) beside the lab's CRI pods, on the same socket. `runtimes`
 * shows the socket in both APIs; `ps` lists the `ctr` container once (runtime containerd,
 * pod null, its namespace) and each CRI container once, with its pod; `inspect` finds it by
 * id, id prefix and pid; `-n default` selects it. `trace` proves a `ctr run` container
 * whose id is no 64-hex word (`/default/<name>`) by its cgroup id, never calls it the host's.
 * A container that names itself with control
 * characters (nerdctl's name label) cannot break a stderr line nor the NDJSON output.
 */
import assert from "node:assert/strict";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";
import { runFooAndBar } from "../harness/pods.ts";
import { TraceProcess } from "../harness/trace_process.ts";
import { ExitCode } from "../../src/errors.ts";
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

realTest(
  "a container name with control characters stays escaped on one stderr line of trace",
  async () => {
    await withLab(async (lab) => {
      const name = "x\x1b[2J\ncrienrich: forged line\u202e";
      const trace = new TraceProcess(
        ["-l", "team=evil", "--duration", "60s", "--debug"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: waiting for labels team=evil to start$/);
      const id = crypto.randomUUID().replaceAll("-", "").repeat(2);
      await lab.runCtr(id, {
        labels: { team: "evil", "nerdctl/name": name },
        command: ["sh", "-c", "echo evil-crienrich; sleep 2"],
      });
      const escaped = "x\\x1b[2J\\ncrienrich: forged line\\u{202e}";
      await trace.waitFor(/ appeared: /);
      await new Promise((r) => setTimeout(r, 1000));
      trace.child.kill("SIGINT");
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.Ok, stderr.join("\n"));
      assert.ok(
        stderr.includes(`crienrich: labels team=evil appeared: container "${escaped}"`),
        stderr.join("\n"),
      );
      assert.ok(
        stderr.some((l) => l.startsWith("debug: mntns ") && l.includes(`allowed: ${escaped}, by`)),
        stderr.join("\n"),
      );
      for (const line of stderr) {
        // deno-lint-ignore no-control-regex
        assert.doesNotMatch(line, /[\x00-\x1f\x7f\u202e]/, JSON.stringify(line));
        assert.ok(!line.startsWith("crienrich: forged line"), line);
      }
      // JSON carries the name as it is (JSON escapes it itself).
      const exec = events.find((e) =>
        e.type === "exec" && e.process.args?.[2]?.startsWith("echo evil")
      );
      assert.equal(exec?.container?.id, id, JSON.stringify(events));
      assert.equal(exec?.container?.name, name);
    });
  },
);

realTest(
  "trace --container --host: a ctr container named otherwise than by 64 hex is its own, not the host's",
  async () => {
    await withLab(async (lab) => {
      const trace = new TraceProcess(
        ["--container", "job-web2", "--host", "--duration", "60s", "--debug"],
        lab.socket,
      );
      await trace.waitFor(/^crienrich: waiting for container "job-web2" to start$/);
      await lab.runCtr("job-web2", {
        command: ["sh", "-c", "echo entry-marker-crienrich; exec sleep 3600"],
      });
      await trace.waitFor(/ appeared: container "job-web2"$/);
      const exec = await new Deno.Command("ctr", {
        args: ["-a", lab.socket, "-n", "default", "tasks", "exec", "--exec-id", "e1", "job-web2"]
          .concat(["sh", "-c", "echo exec-marker-crienrich"]),
      }).output();
      assert.ok(exec.success, new TextDecoder().decode(exec.stderr));
      await new Promise((r) => setTimeout(r, 1000));
      trace.child.kill("SIGINT");
      const { code, events, stderr } = await trace.finish();
      assert.equal(code, ExitCode.Ok, stderr.join("\n"));
      for (const marker of ["entry-marker-crienrich", "exec-marker-crienrich"]) {
        // The shell inside the container (ctr's own exec on the host carries the text too).
        const inside = events.filter((e) =>
          e.type === "exec" && e.process.comm !== "ctr" &&
          e.process.args?.some((a) => a.includes(marker))
        );
        assert.ok(
          inside.length > 0,
          `${marker}: ${JSON.stringify(events.map((e) => e.process.args))}`,
        );
        for (const event of inside) {
          assert.equal(event.container?.id, "job-web2", JSON.stringify(event));
          assert.equal(event.container?.runtime, "containerd");
          assert.equal(event.unresolved, false);
        }
      }
      assert.ok(
        stderr.some((l) => /allowed: job-web2, by cgroup (id )?job-web2$/.test(l)),
        stderr.join("\n"),
      );
    });
  },
);
