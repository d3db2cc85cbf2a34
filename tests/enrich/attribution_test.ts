/**
 * Attribution under the hostile cases of a CI node, end to end: the real kernel, a real
 * private containerd, pods created as the kubelet creates them.
 *
 * - Churn: one-shot pods in a row (their process and cgroup gone within milliseconds, their
 *   mount namespace inode numbers handed to the next pod at once).
 * - A named selection while the host makes private mount namespaces and other pods run
 *   short-lived commands: nothing but the selection's own events, and no false pass.
 */
import assert from "node:assert/strict";
import { realTest, withLab } from "../harness/real.ts";
import { type TraceEvent, TraceProcess } from "../harness/trace_process.ts";
import { spawnWithHostRoot } from "../harness/host_root.ts";
import { cgroupDirOf, initPid, runFooAndBar } from "../harness/pods.ts";
import { ExitCode } from "../../src/errors.ts";

const CHURN_PODS = 20;

/** The pid of a pod sandbox's own process, from its verbose status. */
async function sandboxPid(
  lab: { client: { call<T>(s: "RuntimeService", m: string, r: object): Promise<T> } },
  id: string,
): Promise<number> {
  const status = await lab.client.call<{ info: Record<string, string> }>(
    "RuntimeService",
    "PodSandboxStatus",
    { podSandboxId: id, verbose: true },
  );
  return JSON.parse(status.info.info!).pid;
}

realTest("churn: every exec and exit of 20 one-shot pods goes to its own pod", async () => {
  await withLab(async (lab) => {
    const all = new TraceProcess(["--all", "--duration", "120s"], lab.socket);
    const labelled = new TraceProcess(["-l", "churn=yes", "--duration", "120s"], lab.socket);
    await all.waitFor(/^crienrich: tracing every container/);
    await labelled.waitFor(/^crienrich: (tracing|waiting for)/);

    const pods: { name: string; uid: string; sandboxId: string; containerId: string }[] = [];
    for (let i = 1; i <= CHURN_PODS; i++) {
      const pod = await lab.runPod({
        name: `churn-${i}`,
        namespace: "ci",
        labels: { churn: "yes" },
        cgroupParent: "kubelet",
      });
      const containerId = await lab.runContainer(pod, "job", [
        "/bin/sh",
        "-c",
        `echo churn-${i}; exit ${i}`,
      ]);
      pods.push({ name: pod.name, uid: pod.uid, sandboxId: pod.sandboxId, containerId });
    }
    const sandboxPids = new Map<number, string>();
    for (const pod of pods) sandboxPids.set(await sandboxPid(lab, pod.sandboxId), pod.name);
    await new Promise((r) => setTimeout(r, 2500));
    all.child.kill("SIGINT");
    labelled.child.kill("SIGINT");
    const [everything, selected] = [await all.finish(), await labelled.finish()];
    assert.equal(everything.code, ExitCode.Ok, everything.stderr.join("\n"));
    assert.equal(selected.code, ExitCode.Ok, selected.stderr.join("\n"));

    for (const [name, trace] of [["--all", everything], ["-l churn=yes", selected]] as const) {
      const events = trace.events;
      let right = 0;
      for (const [index, pod] of pods.entries()) {
        const i = index + 1;
        const exec = events.find((e) =>
          e.type === "exec" && e.process.args?.join(" ") === `/bin/sh -c echo churn-${i}; exit ${i}`
        );
        assert.ok(exec, `${name}: the exec of pod ${pod.name}'s entrypoint`);
        assert.equal(exec.pod?.name, pod.name, `${name}: exec of ${pod.name}`);
        assert.equal(exec.pod?.uid, pod.uid);
        assert.equal(exec.pod?.namespace, "ci");
        assert.equal(exec.container?.id, pod.containerId);
        assert.equal(exec.container?.name, "job");
        assert.equal(exec.unresolved, false);
        const exit = events.find((e) => e.type === "exit" && e.process.pid === exec.process.pid);
        assert.ok(exit, `${name}: the exit of pod ${pod.name}'s entrypoint`);
        assert.equal(exit.process.exit_code, i);
        assert.equal(exit.pod?.name, pod.name, `${name}: exit of ${pod.name}`);
        assert.equal(exit.container?.id, pod.containerId);
        right += 2;
      }
      // Every event that names a churn pod is that pod's: by its entrypoint's marker, by
      // its container id, by its sandbox's pid.
      for (const e of events) {
        const marker = /churn-(\d+);/.exec(e.process.args?.join(" ") ?? "");
        if (marker) assert.equal(e.pod?.name, `churn-${marker[1]}`, JSON.stringify(e));
        const owner = pods.find((p) => p.containerId === e.container?.id);
        if (owner) assert.equal(e.pod?.name, owner.name, JSON.stringify(e));
        const sandboxOwner = sandboxPids.get(e.process.pid);
        if (sandboxOwner && e.pod_sandbox) assert.equal(e.pod?.name, sandboxOwner);
        if (e.pod_sandbox) {
          assert.equal(e.container, null);
          assert.ok(pods.some((p) => p.name === e.pod?.name), JSON.stringify(e));
        }
        if (name === "-l churn=yes") {
          assert.equal(e.unresolved, false, JSON.stringify(e));
          assert.equal(e.pod?.labels.churn, "yes", JSON.stringify(e));
        }
      }
      const sandboxExecs = events.filter((e) =>
        e.type === "exec" && e.pod_sandbox && sandboxPids.get(e.process.pid) === e.pod?.name
      );
      assert.equal(sandboxExecs.length, CHURN_PODS, `${name}: each sandbox's own exec`);
      const unresolved = events.filter((e: TraceEvent) => e.unresolved).length;
      // The figures the issue note reports (right / unresolved / wrong of the churn).
      // deno-lint-ignore no-console
      console.log(
        `${name}: ${right} entrypoint events right, ${sandboxExecs.length} sandbox execs ` +
          `right, ${unresolved} unresolved of ${events.length} printed; ${trace.stderr.at(-1)}`,
      );
    }
  });
});

realTest("--pod foo prints only foo's events while the host and other pods churn", async () => {
  await withLab(async (lab) => {
    const { app, bar, db } = await runFooAndBar(lab);
    const stream = new TraceProcess(
      ["--pod", "foo", "-n", "demo", "--duration", "60s"],
      lab.socket,
    );
    const gate = new TraceProcess(
      ["--pod", "foo", "-n", "demo", "--until-exec", "/bin/true", "--duration", "8s"],
      lab.socket,
    );
    await stream.waitFor(/^crienrich: tracing pod "foo"/);
    await gate.waitFor(/^crienrich: tracing pod "foo"/);

    // The host: processes with private mount namespaces, each a new namespace.
    const host = new Deno.Command("/bin/sh", {
      args: ["-c", "i=0; while [ $i -lt 150 ]; do unshare -m /bin/true; i=$((i+1)); done"],
    }).output();
    // Other pods: short-lived commands and a one-shot container.
    for (let i = 0; i < 5; i++) {
      await lab.exec(db, ["/bin/sh", "-c", "/bin/true; /bin/true"]);
      await lab.runContainer(bar, `once-${i}`, ["/bin/true"]);
    }
    await host;
    await lab.exec(app, ["/bin/echo", "foo-marker"]);

    const gated = await gate.finish();
    assert.equal(gated.code, ExitCode.WaitTimedOut, gated.stderr.join("\n"));
    // What it printed meanwhile is foo's own (ExecSync's helpers, the marker), never a
    // /bin/true of the host or of pod bar.
    for (const e of gated.events) {
      assert.equal(e.pod?.name, "foo", JSON.stringify(e));
      assert.notEqual(e.process.args?.[0], "/bin/true", JSON.stringify(e));
    }

    await new Promise((r) => setTimeout(r, 1000));
    stream.child.kill("SIGINT");
    const { code, events, stderr } = await stream.finish();
    assert.equal(code, ExitCode.Ok);
    const marker = events.find((e) => e.process.args?.join(" ") === "/bin/echo foo-marker");
    assert.ok(marker, "foo's own exec");
    assert.equal(marker.container?.id, app);
    for (const e of events) {
      assert.equal(e.pod?.name, "foo", JSON.stringify(e));
      assert.equal(e.unresolved, false);
      assert.notEqual(e.process.args?.[0], "/bin/true", JSON.stringify(e));
    }
    assert.match(
      stderr.at(-1)!,
      /^crienrich: \d+ events? printed, \d+ other events filtered, 0 lost, 0 unresolved, /,
    );
  });
});

realTest(
  "a sub-cgroup named after another container does not make its process that container's",
  async () => {
    await withLab(async (lab) => {
      const { app, db } = await runFooAndBar(lab);
      // What a privileged container of pod foo could do: a cgroup named after bar's container.
      const forged = `${cgroupDirOf(await initPid(lab, app))}/${db}`;
      Deno.mkdirSync(forged);
      try {
        const ofBar = new TraceProcess(["--pod", "bar", "--duration", "60s"], lab.socket);
        const ofFoo = new TraceProcess(
          ["--pod", "foo", "--duration", "60s", "--debug"],
          lab.socket,
        );
        await ofBar.waitFor(/^crienrich: tracing pod "bar"/);
        await ofFoo.waitFor(/^crienrich: tracing pod "foo"/);
        const out = await new Deno.Command("/bin/sh", {
          args: [
            "-c",
            `echo $$ > ${forged}/cgroup.procs && exec unshare -m /bin/echo forged-marker`,
          ],
          stdout: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(out.stdout), "forged-marker\n");
        await ofFoo.waitFor(/^debug: mntns \d+ \(serial \d+\) allowed: demo\/foo\/app, by cgroup/);
        await new Promise((r) => setTimeout(r, 1000));
        ofBar.child.kill("SIGINT");
        ofFoo.child.kill("SIGINT");
        const [barTrace, fooTrace] = [await ofBar.finish(), await ofFoo.finish()];
        const marked = (e: TraceEvent) => e.process.args?.join(" ") === "/bin/echo forged-marker";
        assert.equal(barTrace.events.some(marked), false, "never bar's");
        const inFoo = fooTrace.events.find(marked);
        assert.ok(inFoo, "attributed to the container whose cgroup holds it");
        assert.equal(inFoo.container?.id, app);
        assert.equal(inFoo.pod?.name, "foo");
      } finally {
        Deno.removeSync(forged);
      }
    });
  },
);

realTest(
  "a process of pod foo that joins pod bar's mount namespace does not make bar foo's",
  async () => {
    await withLab(async (lab) => {
      const { app, db } = await runFooAndBar(lab);
      const gate = new TraceProcess(
        ["--pod", "foo", "--until-args", "I-AM-BAR", "--duration", "8s"],
        lab.socket,
      );
      await gate.waitFor(/^crienrich: tracing pod "foo"/);
      // Before bar's namespace was ever seen: a process in foo's cgroup enters it.
      await new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `echo $$ > ${cgroupDirOf(await initPid(lab, app))}/cgroup.procs && ` +
          `exec nsenter -t ${await initPid(lab, db)} -m /bin/true`,
        ],
      }).output();
      await lab.exec(db, ["/bin/echo", "I-AM-BAR"]);
      const { code, events, stderr } = await gate.finish();
      assert.equal(code, ExitCode.WaitTimedOut, stderr.join("\n"));
      for (const e of events) assert.notEqual(e.container?.id, db, JSON.stringify(e));
    });
  },
);

realTest("a forged k8s.io/<id> sub-cgroup path is not the container it names", async () => {
  await withLab(async (lab) => {
    const { app, db } = await runFooAndBar(lab, false);
    // containerd without a cgroup parent: /k8s.io/<id>; the forgery repeats that layout.
    const forged = `${cgroupDirOf(await initPid(lab, app))}/k8s.io/${db}`;
    Deno.mkdirSync(forged, { recursive: true });
    try {
      const ofBar = new TraceProcess(["--pod", "bar", "--duration", "60s"], lab.socket);
      await ofBar.waitFor(/^crienrich: tracing pod "bar"/);
      await new Deno.Command("/bin/sh", {
        args: ["-c", `echo $$ > ${forged}/cgroup.procs && exec unshare -m /bin/echo FORGED`],
      }).output();
      await new Promise((r) => setTimeout(r, 1500));
      ofBar.child.kill("SIGINT");
      const { events } = await ofBar.finish();
      assert.equal(events.some((e) => e.process.args?.includes("FORGED")), false);
    } finally {
      Deno.removeSync(forged);
      Deno.removeSync(forged.slice(0, forged.lastIndexOf("/")));
    }
  });
});

realTest(
  "with --host-root from a private PID namespace, host processes in a pod's cgroup stay host",
  async () => {
    await withLab(async (lab) => {
      const foo = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
      const app = await lab.runContainer(foo, "app");
      // A privileged pod's process in the host's mount namespace (as `nsenter -t 1 -m` gives).
      const host = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `echo $$ > ${cgroupDirOf(await initPid(lab, app))}/cgroup.procs; ` +
          "i=0; while [ $i -lt 60 ]; do /bin/echo I-AM-A-HOST-PROCESS >/dev/null; sleep 0.05; i=$((i+1)); done",
        ],
      }).spawn();
      const root = await Deno.makeTempDir({ prefix: "crienrich-hostroot-" });
      try {
        const child = spawnWithHostRoot(root, [
          "trace",
          "--pod",
          "foo",
          "-o",
          "json",
          "--duration",
          "3s",
          "-r",
          `unix://${lab.socket}`,
        ]);
        const output = await child.output();
        const stdout = new TextDecoder().decode(output.stdout);
        const stderr = new TextDecoder().decode(output.stderr);
        assert.equal(output.code, ExitCode.Ok, stderr);
        assert.equal(stdout.includes("I-AM-A-HOST-PROCESS"), false, stdout.slice(0, 2000));
      } finally {
        await host.status;
        await Deno.remove(root, { recursive: true });
      }
    });
  },
);

realTest(
  "one-shot containers removed right after they exit are never another pod's or the host's",
  async () => {
    await withLab(async (lab) => {
      const all = new TraceProcess(["--all", "--host", "--duration", "120s"], lab.socket);
      await all.waitFor(/^crienrich: tracing every container and the host/);
      for (let i = 1; i <= 10; i++) {
        const pod = await lab.runPod({
          name: `gone-${i}`,
          namespace: "ci",
          cgroupParent: "kubelet",
        });
        await lab.runContainer(pod, "job", ["/bin/sh", "-c", `echo gone-${i}; exit ${i}`]);
        await lab.removePod(pod);
      }
      await new Promise((r) => setTimeout(r, 2500));
      all.child.kill("SIGINT");
      const { events } = await all.finish();
      for (let i = 1; i <= 10; i++) {
        const exec = events.find((e) =>
          e.process.args?.join(" ") === `/bin/sh -c echo gone-${i}; exit ${i}`
        );
        if (!exec) continue; // removed before it ran: nothing to attribute
        // Its own pod when the runtime answered in time; else flagged, never host or other.
        if (exec.pod) assert.equal(exec.pod.name, `gone-${i}`, JSON.stringify(exec));
        else assert.equal(exec.unresolved, true, JSON.stringify(exec));
      }
    });
  },
);

realTest("a workload renamed like runc's helper still shows its exit", async () => {
  await withLab(async (lab) => {
    const foo = await lab.runPod({ name: "foo", namespace: "demo", cgroupParent: "kubelet" });
    const app = await lab.runContainer(foo, "app");
    const trace = new TraceProcess(["--pod", "foo", "--duration", "60s"], lab.socket);
    await trace.waitFor(/^crienrich: tracing pod "foo"/);
    await lab.exec(app, ["/bin/sh", "-c", "printf 'runc:[2:INIT]' > /proc/self/comm; exit 42"]);
    await new Promise((r) => setTimeout(r, 1000));
    trace.child.kill("SIGINT");
    const { events } = await trace.finish();
    const exit = events.find((e) => e.process.exit_code === 42);
    assert.ok(exit, JSON.stringify(events));
    assert.equal(exit.process.comm, "runc:[2:INIT]");
  });
});
