/**
 * `crienrich trace -n default` against a real private containerd: containers that `ctr run`
 * makes in containerd namespace `default` with ids that are not 64 hex digits (`job1`, a
 * one-shot `job2` started after the trace began) are attributed, through containerd's
 * `/<namespace>/<id>` cgroup; the JSON's container has `containerd_namespace` and the
 * table's NAMESPACE column shows `default`, as `ps` does.
 */
import assert from "node:assert/strict";
import { realTest, runCli, withLab } from "../harness/real.ts";
import { TraceProcess } from "../harness/trace_process.ts";
import { ExitCode } from "../../src/errors.ts";

async function ctr(socket: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("ctr", {
    args: ["-a", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`ctr ${args.join(" ")}: ${text(out.stderr)}`);
  return text(out.stdout);
}

realTest("trace -n default attributes ctr containers with non-hex ids", async (t) => {
  await withLab(async (lab) => {
    await lab.runCtr("job1");
    const trace = new TraceProcess(["-n", "default", "--duration", "90s", "--debug"], lab.socket);
    await trace.waitFor(/^crienrich: tracing /, 60_000);
    const table = runCli(
      [
        "trace",
        "-r",
        lab.socket,
        "-n",
        "default",
        "--until-args",
        "table-crienrich",
        "--duration",
        "60s",
      ],
    );
    await new Promise((r) => setTimeout(r, 8000)); // the table trace attaches
    await ctr(
      lab.socket,
      "-n",
      "default",
      "tasks",
      "exec",
      "--exec-id",
      "e1",
      "job1",
      "/bin/echo",
      "exec-in-job1-crienrich",
    );
    await ctr(
      lab.socket,
      "-n",
      "default",
      "tasks",
      "exec",
      "--exec-id",
      "e2",
      "job1",
      "/bin/echo",
      "table-crienrich",
    );
    await lab.runCtr("job2", { command: ["/bin/sh", "-c", "echo job2-crienrich; exit 0"] });
    await new Promise((r) => setTimeout(r, 2000));
    trace.child.kill("SIGINT");
    const [result, tabled] = [await trace.finish(), await table];

    await t.step("JSON: the exec in job1 and the one-shot job2, with containerd_namespace", () => {
      assert.equal(result.code, ExitCode.Ok, result.stderr.join("\n"));
      const exec = result.events.find((e) =>
        e.type === "exec" && e.process.args?.[1] === "exec-in-job1-crienrich"
      );
      assert.ok(exec, JSON.stringify(result.events.map((e) => e.process.args)));
      assert.equal(exec.container?.name, "job1");
      assert.equal(exec.container?.runtime, "containerd");
      assert.equal((exec.container as Record<string, unknown>)["containerd_namespace"], "default");
      assert.equal(exec.pod, null);
      const oneShot = result.events.find((e) =>
        e.type === "exec" && e.process.args?.join(" ") === "/bin/sh -c echo job2-crienrich; exit 0"
      );
      assert.ok(oneShot, JSON.stringify(result.events.map((e) => e.process.args)));
      assert.equal(oneShot.container?.id, "job2");
      assert.equal(
        (oneShot.container as Record<string, unknown>)["containerd_namespace"],
        "default",
      );
      for (const event of result.events) {
        assert.ok(["job1", "job2"].includes(event.container?.name ?? ""));
      }
    });

    await t.step("table: NAMESPACE is default, POD -", () => {
      assert.equal(tabled.code, ExitCode.Ok, tabled.stderr);
      const row = tabled.stdout.split("\n").find((l) => l.includes("table-crienrich"));
      assert.match(row ?? "", /^\S+\s+default\s+-\s+job1\s/, tabled.stdout);
    });
  });
});
