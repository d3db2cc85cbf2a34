/**
 * Several runtimes on one node, for real: a private containerd (CRI, kubelet pod cgroups)
 * and a private dockerd at once, found at their well-known sockets under a host root.
 * `ps` lists each container once, answered by its own runtime; a hung Docker socket (one
 * that accepts and never answers, or a stopped dockerd) delays `ps` by its deadline at most
 * and hides no CRI container; `trace --all` covers both runtimes; `doctor` names each runtime
 * found, and the one that did not answer. While one does not answer, `inspect` by name or id
 * prefix says it cannot tell (exit 3) rather than call a name unique or absent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";
import { runFooAndBar } from "../harness/pods.ts";
import { silentSocket } from "../harness/sockets.ts";
import { TraceProcess } from "../harness/trace_process.ts";
import { DockerLab } from "../../scripts/lab/docker_lab.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { ExitCode } from "../../src/errors.ts";

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/**
 * A host root whose /proc and /sys are the host's and whose well-known sockets are the
 * labs': `run/containerd/containerd.sock` and `run/docker.sock` (a link to `docker`, or a
 * fresh socket path when `docker` is undefined). Returns the root and the Docker socket path.
 */
async function hostRoot(containerd: string, docker?: string): Promise<[string, string]> {
  const root = await Deno.makeTempDir({ prefix: "crm-" });
  await Deno.symlink("/proc", join(root, "proc"));
  await Deno.symlink("/sys", join(root, "sys"));
  await Deno.mkdir(join(root, "run/containerd"), { recursive: true });
  await Deno.symlink(containerd, join(root, "run/containerd/containerd.sock"));
  const dockerSock = join(root, "run/docker.sock");
  if (docker) await Deno.symlink(docker, dockerSock);
  return [root, dockerSock];
}

const TIMEOUT_S = 2;

/** The installed containerd's version, as its CRI Version call reports it. */
async function containerdVersion(): Promise<string> {
  const out = await new Deno.Command("containerd", { args: ["--version"] }).output();
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/)[2] ?? "?";
}

realTest("ps and trace --all over containerd (CRI) and dockerd at once", async (t) => {
  await withLab(async (lab) => {
    await using docker = await DockerLab.start();
    const { app, db } = await runFooAndBar(lab);
    const web = await docker.run("web", { labels: { tier: "frontend" } });
    const [root] = await hostRoot(lab.socket, docker.socket);
    try {
      await t.step("ps lists each container once, by its own runtime", async () => {
        const list = records(await runCli(["ps", "--host-root", root, "-o", "json"]));
        const ids = list.map((r) => r.id);
        assert.equal(new Set(ids).size, ids.length, `duplicates: ${ids}`);
        const of = (id: string) => list.find((r) => r.id === id);
        assert.equal(of(app)?.runtime, "containerd");
        assert.equal(
          of(app)?.runtime_endpoint,
          `unix://${join(root, "run/containerd/containerd.sock")}`,
        );
        assert.equal(of(app)?.pod?.name, "foo");
        assert.equal(of(db)?.runtime, "containerd");
        assert.equal(of(web)?.runtime, "docker");
        assert.equal(of(web)?.runtime_endpoint, `unix://${join(root, "run/docker.sock")}`);
        assert.equal(of(web)?.pod, null);
        assert.deepEqual(list.map((r) => r.name).sort(), ["app", "db", "web"]);
      });

      await t.step("doctor's runtime check names both runtimes", async () => {
        const result = await runCli(["doctor", "--host-root", root, "-o", "json"]);
        const rows: { name: string; status: string; detail: string }[] = result.stdout
          .split("\n").filter(Boolean).map((line) => JSON.parse(line));
        const check = rows.find((row) => row.name === "runtime");
        assert.equal(check?.status, "ok", result.stdout);
        const dockerVersion = (await docker.docker(["version", "-f", "{{.Server.Version}}"]))
          .trim();
        const dockerApi = (await docker.docker(["version", "-f", "{{.Server.APIVersion}}"]))
          .trim();
        assert.equal(
          check?.detail,
          // containerd's socket answers twice: CRI and containerd's own API.
          `3 runtimes answered: containerd ${await containerdVersion()} (kind cri, API v1) at unix://${
            join(root, "run/containerd/containerd.sock")
          }; containerd ${await containerdVersion()} (kind containerd, API v1) at unix://${
            join(root, "run/containerd/containerd.sock")
          }; docker ${dockerVersion} (kind docker, API ${dockerApi}) at unix://${
            join(root, "run/docker.sock")
          }`,
        );
      });

      await t.step("the table's RUNTIME column names each one's runtime", async () => {
        const result = await runCli(["ps", "--host-root", root]);
        assert.equal(result.code, 0, result.stderr);
        const [header, ...rows] = result.stdout.trimEnd().split("\n");
        assert.match(
          header!,
          /^CONTAINER\s+NAME\s+POD\s+NAMESPACE\s+STATE\s+IMAGE\s+PID\s+RUNTIME$/,
        );
        assert.ok(
          rows.some((row) => /^\S+\s+web\s+-\s+-\s+running\s.*\sdocker$/.test(row)),
          rows.join("\n"),
        );
        assert.ok(
          rows.some((row) => /^\S+\s+app\s+foo\s+demo\s+running\s.*\scontainerd$/.test(row)),
        );
      });

      await t.step("trace --all reports execs in both runtimes' containers", async () => {
        const trace = new TraceProcess(
          ["--all", "--host-root", root, "--duration", "60s"],
          "",
        );
        await trace.waitFor(/^crienrich: tracing every container \(3 running containers/);
        await lab.exec(app, ["/bin/sh", "-c", "echo cri-marker-crienrich"]);
        await docker.docker(["exec", "web", "/bin/sh", "-c", "echo docker-marker-crienrich"]);
        await new Promise((r) => setTimeout(r, 1000));
        trace.child.kill("SIGINT");
        const { code, events, stderr } = await trace.finish();
        assert.equal(code, ExitCode.Ok, stderr.join("\n"));
        const exec = (marker: string) =>
          events.find((e) => e.type === "exec" && e.process.args?.[2] === `echo ${marker}`);
        const inApp = exec("cri-marker-crienrich");
        assert.equal(inApp?.container?.id, app, JSON.stringify(inApp));
        assert.equal(inApp?.container?.runtime, "containerd");
        assert.equal(inApp?.pod?.name, "foo");
        const inWeb = exec("docker-marker-crienrich");
        assert.equal(inWeb?.container?.id, web, JSON.stringify(inWeb));
        assert.equal(inWeb?.container?.runtime, "docker");
        assert.equal(inWeb?.pod, null);
      });

      await t.step("a stopped dockerd delays ps by its deadline at most", async () => {
        const pid = Number(await Deno.readTextFile(join(docker.dir, "dockerd.pid")));
        Deno.kill(pid, "SIGSTOP");
        try {
          await assertBoundedPs(root, [app, db]);
          await assertInspectUnproven(root, app, "web");
        } finally {
          Deno.kill(pid, "SIGCONT");
        }
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }

    await t.step(
      "a socket that accepts and never answers delays ps by its deadline at most; doctor names it",
      async () => {
        const [silentRoot, dockerSock] = await hostRoot(lab.socket);
        try {
          await using _silent = silentSocket(dockerSock);
          await assertBoundedPs(silentRoot, [app, db]);
          await assertInspectUnproven(silentRoot, app, "web");
          const result = await runCli([
            "doctor",
            "--host-root",
            silentRoot,
            "--timeout",
            `${TIMEOUT_S}s`,
            "-o",
            "json",
          ]);
          const check = result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line))
            .find((row) => row.name === "runtime");
          assert.equal(check?.status, "ok", result.stdout);
          assert.equal(
            check?.detail,
            `2 runtimes answered: containerd ${await containerdVersion()} (kind cri, API v1) at unix://${
              join(silentRoot, "run/containerd/containerd.sock")
            }; containerd ${await containerdVersion()} (kind containerd, API v1) at unix://${
              join(silentRoot, "run/containerd/containerd.sock")
            }; did not answer: unix://${dockerSock} (no answer)`,
          );
        } finally {
          await Deno.remove(silentRoot, { recursive: true });
        }
      },
    );
  });
});

/**
 * `ps --timeout 2s` under `root` ends within the deadline plus 3 s (noise), still lists the
 * CRI containers `ids`, and says on stderr that the Docker Engine did not answer.
 */
async function assertBoundedPs(root: string, ids: string[]): Promise<void> {
  const started = performance.now();
  const result = await runCli([
    "ps",
    "--host-root",
    root,
    "--timeout",
    `${TIMEOUT_S}s`,
    "-o",
    "json",
  ]);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < (TIMEOUT_S + 3) * 1000, `ps took ${Math.round(elapsed)} ms`);
  const listed = records(result).map((r) => r.id);
  for (const id of ids) assert.ok(listed.includes(id), `${id} missing from ${listed}`);
  assert.match(
    result.stderr,
    new RegExp(
      `^crienrich: Docker Engine at unix://${
        join(root, "run/docker.sock")
      } did not answer \\(no answer within ${TIMEOUT_S * 1000} ms\\): its containers are left out$`,
      "m",
    ),
  );
}

/**
 * With the Docker Engine under `root` silent: `inspect app` (the CRI container, listed once)
 * cannot be proven the only "app", `inspect <docker name>`, `ps --container <docker name>`
 * and `trace --container <docker name>` cannot be proven absent (each exits 3, naming the
 * silent runtime); the CRI container's full id is still found.
 */
async function assertInspectUnproven(root: string, app: string, dockerName: string) {
  const flags = ["--host-root", root, "--timeout", `${TIMEOUT_S}s`];
  const silent = `Docker Engine at unix://${join(root, "run/docker.sock")}`;
  const unique = await runCli(["inspect", "app", ...flags]);
  assert.equal(unique.code, ExitCode.RuntimeUnavailable, unique.stdout);
  assert.equal(unique.stdout, "");
  assert.match(
    unique.stderr,
    new RegExp(
      `^crienrich: Cannot tell whether container "app" is the only one: ${silent} did not answer; `,
      "m",
    ),
  );
  const absent = await runCli(["inspect", dockerName, ...flags]);
  assert.equal(absent.code, ExitCode.RuntimeUnavailable, absent.stderr);
  assert.match(
    absent.stderr,
    new RegExp(`^crienrich: Cannot find container "${dockerName}": ${silent} did not answer`, "m"),
  );
  const byId = await runCli(["inspect", app, ...flags]);
  assert.equal(byId.code, ExitCode.Ok, byId.stderr);
  assert.equal(JSON.parse(byId.stdout).id, app);
  // ps and trace under a named selection that matches nothing: not "not found" (5) either.
  const ps = await runCli(["ps", "--container", dockerName, ...flags]);
  assert.equal(ps.code, ExitCode.RuntimeUnavailable, ps.stderr);
  assert.match(
    ps.stderr,
    new RegExp(
      `^crienrich: Cannot tell whether a container matches container "${dockerName}": ${silent} did not answer`,
      "m",
    ),
  );
  const trace = await runCli(["trace", "--container", dockerName, "--duration", "1s", ...flags]);
  assert.equal(trace.code, ExitCode.RuntimeUnavailable, trace.stderr);
  assert.match(
    trace.stderr,
    new RegExp(
      `^crienrich: Cannot tell whether a container matching container "${dockerName}" ran: ${silent} did not answer`,
      "m",
    ),
  );
}
