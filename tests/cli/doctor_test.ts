/**
 * `crienrich doctor`: the pure verdicts (no root), then the command run for real against a
 * private containerd (scripts/lab), with provoked failures: no endpoint, tracefs unmounted,
 * a wrong libbpf path, and an unprivileged user. Real tests run under `CI=true` always.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ExitCode } from "../../src/errors.ts";
import { main } from "../../src/main.ts";
import { LineWriter } from "../../src/output/writer.ts";
import type { EndpointProbe } from "../../src/runtime/discovery.ts";
import {
  type Check,
  type CheckResult,
  reportExitCode,
  runChecks,
  summarize,
} from "../../src/doctor/mod.ts";
import { judgePrivileges, parseCapEff } from "../../src/doctor/privileges.ts";
import { judgeKernel, parseKernelRelease } from "../../src/doctor/kernel.ts";
import { judgeCgroupLayout } from "../../src/doctor/cgroups.ts";
import { tracefsMounts } from "../../src/doctor/tracing.ts";
import { judgeProbes } from "../../src/doctor/runtime.ts";
import { judgePidNamespace } from "../../src/doctor/pid_namespace.ts";
import { type CliResult, realTest, runCli, withLab } from "../harness/real.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const NOBODY = 65534;
const CHECK_NAMES = [
  "privileges",
  "kernel",
  "btf",
  "tracefs",
  "tracepoints",
  "cgroups",
  "libbpf",
  "runtime",
  "pid-namespace",
  "bpf",
];

// --- verdicts, without root ------------------------------------------------------------

Deno.test("parseCapEff() reads the CapEff line and rejects a status without one", () => {
  const status = "Name:\tdeno\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\nCapBnd:\t0\n";
  assert.equal(parseCapEff(status), 0x1fffeffffffn);
  assert.throws(() => parseCapEff("Name:\tdeno\n"), SyntaxError);
});

Deno.test("judgePrivileges() accepts root with CAP_SYS_ADMIN or CAP_BPF+CAP_PERFMON, and CAP_SYS_PTRACE", () => {
  const bpf = 1n << 39n, perfmon = 1n << 38n, sysAdmin = 1n << 21n, ptrace = 1n << 19n;
  const cases: [number, bigint, string, number | undefined][] = [
    [0, 0x1fffeffffffn, "ok", undefined], // this lab: everything but CAP_SYS_RESOURCE
    [0, 0x3fffffffffn, "ok", undefined], // root on a kernel before 5.8: no CAP_BPF bit
    [0, bpf | perfmon | ptrace, "ok", undefined],
    [0, bpf | perfmon, "fail", ExitCode.PermissionDenied], // cannot read containers' namespaces
    [0, bpf, "fail", ExitCode.PermissionDenied], // CAP_BPF alone cannot attach tracepoints
    [0, 0xa80425fbn, "fail", ExitCode.PermissionDenied], // docker's default set
    [1000, bpf | perfmon | sysAdmin, "warn", undefined], // crienrich insists on uid 0
    [NOBODY, 0n, "fail", ExitCode.PermissionDenied],
  ];
  for (const [uid, caps, status, exitCode] of cases) {
    const outcome = judgePrivileges(uid, caps);
    assert.equal(outcome.status, status, `uid ${uid} caps ${caps.toString(16)}`);
    assert.equal(outcome.exitCode, exitCode);
    assert.equal(outcome.hint === null, status === "ok");
  }
  assert.match(judgePrivileges(NOBODY, 0n).detail, /uid 65534, CapEff 0{16} has none of/);
  assert.match(judgePrivileges(0, bpf | perfmon).detail, /lacks CAP_SYS_PTRACE/);
});

Deno.test("judgeKernel() fails below 4.18, warns below 5.8, accepts 5.8 and later", () => {
  assert.deepEqual(parseKernelRelease("6.18.44-fc-v782"), [6, 18]);
  assert.equal(parseKernelRelease("garbage"), undefined);
  const cases: [string, string][] = [
    ["3.10.0-1160.el7.x86_64", "fail"],
    ["4.17.19", "fail"],
    ["4.18.0-513.el8.x86_64", "warn"],
    ["5.4.0-150-generic", "warn"],
    ["5.7.19", "warn"],
    ["5.8.0", "ok"],
    ["5.10.0-28-amd64", "ok"],
    ["6.1.0-18-amd64", "ok"],
    ["10.0.0", "ok"],
    ["weird", "warn"],
  ];
  for (const [release, status] of cases) {
    assert.equal(judgeKernel(release).status, status, release);
  }
  assert.equal(judgeKernel("4.17.0").exitCode, ExitCode.NotSupported);
});

Deno.test("judgeCgroupLayout() accepts v2 and hybrid, warns on v1-only", () => {
  assert.equal(judgeCgroupLayout("v2", "/sys/fs/cgroup").status, "ok");
  assert.equal(judgeCgroupLayout("hybrid", "/sys/fs/cgroup/unified").status, "ok");
  const v1 = judgeCgroupLayout("v1", undefined);
  assert.equal(v1.status, "warn");
  assert.match(v1.detail, /mount namespace join still works/);
});

Deno.test("tracefsMounts() finds tracefs in mountinfo and nothing else", () => {
  const mountinfo = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "42 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs tracefs rw",
    "50 48 0:13 / /sys/kernel/debug/tracing rw,relatime shared:7 - tracefs tracefs rw",
    "",
  ].join("\n");
  assert.deepEqual(tracefsMounts(mountinfo), ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]);
  assert.deepEqual(tracefsMounts(mountinfo.split("\n")[0]!), []);
});

Deno.test("judgeProbes() is ok when one answers, naming each that did and did not, else fails with 4 (all denied) or 3", () => {
  const probe = (endpoint: string, status: EndpointProbe["status"]): EndpointProbe => ({
    endpoint,
    source: "well-known",
    status,
    ...(status === "ok"
      ? { runtimeName: "containerd", runtimeVersion: "1.6.20~ds1", criApiVersion: "v1" }
      : {}),
  });
  const answered = judgeProbes([probe("unix:///a", "missing"), probe("unix:///b", "ok")]);
  assert.equal(answered.status, "ok");
  assert.equal(answered.detail, "containerd 1.6.20~ds1 (kind cri, API v1) at unix:///b");
  const several = judgeProbes([
    probe("unix:///a", "ok"),
    {
      endpoint: "unix:///run/docker.sock",
      source: "well-known",
      status: "ok",
      kind: "docker",
      runtimeName: "docker",
      runtimeVersion: "20.10.24+dfsg1",
      apiVersion: "1.41",
    },
    { endpoint: "unix:///run/podman/podman.sock", source: "well-known", status: "no answer" },
    probe("unix:///c", "missing"),
  ]);
  assert.equal(several.status, "ok");
  assert.equal(
    several.detail,
    "2 runtimes answered: containerd 1.6.20~ds1 (kind cri, API v1) at unix:///a; " +
      "docker 20.10.24+dfsg1 (kind docker, API 1.41) at unix:///run/docker.sock; " +
      "did not answer: unix:///run/podman/podman.sock (no answer)",
  );
  const denied = judgeProbes([
    probe("unix:///a", "permission denied"),
    probe("unix:///b", "missing"),
  ]);
  assert.deepEqual([denied.status, denied.exitCode], ["fail", ExitCode.PermissionDenied]);
  const none = judgeProbes([probe("unix:///a", "missing"), probe("unix:///b", "missing")]);
  assert.deepEqual([none.status, none.exitCode], ["fail", ExitCode.RuntimeUnavailable]);
  assert.match(none.detail, /none of the 2 well-known sockets exists/);
});

Deno.test("judgePidNamespace() is ok for host and node, fails blind with 8 and the hint", () => {
  const host = judgePidNamespace({ kind: "host" }, "/host/proc", "/run/c.sock");
  assert.deepEqual(host, {
    status: "ok",
    detail: `"/host/proc" shows the host's PID namespace`,
    hint: null,
  });
  const node = judgePidNamespace(
    { kind: "node", pidnsInode: 4026532297n, pidnsDev: 4n, runtimePid: 57 },
    "/proc",
    "/run/c.sock",
  );
  assert.equal(node.status, "ok");
  assert.match(node.detail, /^private PID namespace pid:\[4026532297\] \(dev 4\) .*pid 57/);
  const blind = judgePidNamespace({ kind: "blind", pidnsInode: 4026532297n }, "/proc", "/r.sock");
  assert.deepEqual([blind.status, blind.exitCode], ["fail", ExitCode.PidNamespaceBlind]);
  assert.match(blind.detail, /pid:\[4026532297\] from which the runtime is invisible/);
  assert.match(blind.detail, /"\/r\.sock"/);
  assert.match(
    blind.hint!,
    /hostPID: true .* --pid=host, or mount the host's \/ and pass --host-root/,
  );
});

Deno.test("runChecks() turns a throwing check into a fail line and skips what needs it", async () => {
  const checks: Check[] = [
    { name: "a", run: () => ({ status: "ok", detail: "fine", hint: null }) },
    {
      name: "b",
      run: () => {
        throw new Error("boom\nsecond line");
      },
    },
    { name: "c", needs: ["b"], run: () => ({ status: "ok", detail: "never", hint: null }) },
    { name: "d", needs: ["c"], run: () => ({ status: "ok", detail: "never", hint: null }) },
    { name: "e", run: () => ({ status: "warn", detail: "meh", hint: "x", exitCode: 3 }) },
  ];
  const results: CheckResult[] = [];
  for await (const result of runChecks({ timeoutMs: 1000 }, checks)) results.push(result);
  assert.deepEqual(results.map((r) => [r.name, r.status]), [
    ["a", "ok"],
    ["b", "fail"],
    ["c", "skip"],
    ["d", "skip"],
    ["e", "warn"],
  ]);
  assert.equal(results[1]!.detail, "check failed: boom");
  assert.equal(results[2]!.detail, "needs b");
  assert.equal(reportExitCode(results), ExitCode.Failure);
  assert.equal(summarize(results), "1 ok, 1 warn, 1 fail, 2 skipped");
  // The first failure decides the exit code; warnings never do.
  assert.equal(reportExitCode([results[0]!, results[4]!]), ExitCode.Ok);
  const fails: CheckResult[] = [
    { name: "x", status: "fail", detail: "", hint: null, exitCode: ExitCode.PermissionDenied },
    { name: "y", status: "fail", detail: "", hint: null, exitCode: ExitCode.NotSupported },
  ];
  assert.equal(reportExitCode(fails), ExitCode.PermissionDenied);
  assert.equal(summarize([results[0]!]), "1 ok, 0 warn, 0 fail");
});

// --- for real -------------------------------------------------------------------------

type Row = { name: string; status: string; detail: string; hint: string | null };

function parseRows(stdout: string): Row[] {
  assert.ok(stdout.endsWith("\n"), "every line ends with a newline");
  const rows = stdout.slice(0, -1).split("\n").map((line) => JSON.parse(line) as Row);
  assert.deepEqual(rows.map((r) => r.name), CHECK_NAMES);
  for (const row of rows) assert.deepEqual(Object.keys(row), ["name", "status", "detail", "hint"]);
  return rows;
}
const byName = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.name, r]));

/** Asserts stderr is the one summary line: no stack trace, no other noise. */
function assertSummaryOnly(stderr: string, rows: Row[]): void {
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  const skipped = count("skip") ? `, ${count("skip")} skipped` : "";
  assert.equal(
    stderr,
    `crienrich: ${count("ok")} ok, ${count("warn")} warn, ${count("fail")} fail${skipped}\n`,
  );
}

async function containerdVersion(): Promise<string> {
  const out = await new Deno.Command("containerd", { args: ["--version"] }).output();
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/)[2] ?? "?";
}

function tracefsMounted(): boolean {
  return tracefsMounts(Deno.readTextFileSync("/proc/self/mountinfo")).length > 0;
}

async function sh(cmd: string, ...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
}

/** Runs `crienrich ARGS` in this process (so nothing can remount tracefs in between). */
async function inProcess(args: string[]): Promise<CliResult> {
  const chunks: Uint8Array[] = [];
  const stderr: string[] = [];
  const code = await main(args, {
    out: new LineWriter({ writeSync: (p) => (chunks.push(p.slice()), p.length) }),
    diagnostics: (line) => stderr.push(`${line}\n`),
  });
  const stdout = chunks.map((c) => new TextDecoder().decode(c)).join("");
  return { code, stdout, stderr: stderr.join("") };
}

realTest(
  "doctor -r <lab containerd>: every check ok, exit 0; tracefs is mounted back",
  async (t) => {
    await withLab(async (lab) => {
      await t.step("-o json: ten ok lines naming containerd and its version", async () => {
        const result = await runCli(["doctor", "-o", "json", "-r", lab.socket]);
        const rows = parseRows(result.stdout);
        for (const row of rows) {
          assert.equal(row.status, "ok", `${row.name}: ${row.detail} — ${row.hint}`);
          assert.equal(row.hint, null);
        }
        const checks = byName(rows);
        const version = await containerdVersion();
        assert.equal(
          checks["runtime"]?.detail,
          `2 runtimes answered: containerd ${version} (kind cri, API v1) at unix://${lab.socket}; ` +
            `containerd ${version} (kind containerd, API v1) at unix://${lab.socket}`,
        );
        assert.match(checks["cgroups"]!.detail, /^hybrid: /);
        assert.match(checks["libbpf"]!.detail, /^1\.\d+ /);
        assert.match(checks["bpf"]!.detail, /detached .*; bpftool lists no program left$/);
        assert.equal(checks["pid-namespace"]?.detail, `"/proc" shows the host's PID namespace`);
        assert.equal(result.code, 0);
        assertSummaryOnly(result.stderr, rows);
      });

      await t.step("table: CHECK STATUS DETAIL, one row per check", async () => {
        const result = await runCli(["doctor", "-r", lab.socket]);
        assert.equal(result.code, 0, result.stderr);
        const [header, ...lines] = result.stdout.trimEnd().split("\n");
        assert.deepEqual(header?.split(/\s+/), ["CHECK", "STATUS", "DETAIL"]);
        assert.deepEqual(
          lines.map((l) => l.split(/\s+/).slice(0, 2)),
          CHECK_NAMES.map((n) => [n, "ok"]),
        );
        assert.equal(result.stderr, "crienrich: 10 ok, 0 warn, 0 fail\n");
      });

      await t.step("a trace started during the bpf check is not taken for a leak", async () => {
        // Its programs appear while doctor's are loaded: only those doctor held count.
        for (const delayMs of [50, 200, 400]) {
          const doctor = runCli(["doctor", "-o", "json", "-r", lab.socket]);
          await new Promise((r) => setTimeout(r, delayMs));
          const trace = runCli(["trace", "--all", "-r", lab.socket, "--duration", "3s"]);
          const [result, traced] = await Promise.all([doctor, trace]);
          const bpf = byName(parseRows(result.stdout))["bpf"];
          assert.equal(bpf?.status, "ok", `after ${delayMs} ms: ${bpf?.detail}`);
          assert.match(bpf!.detail, /; bpftool lists no program left$/);
          assert.equal(result.code, 0, result.stderr);
          assert.equal(traced.code, 0, traced.stderr);
        }
      });

      await t.step("tracefs unmounted: doctor mounts it and says so", async () => {
        try {
          if (tracefsMounted()) {
            const umount = await sh("umount", "/sys/kernel/tracing");
            assert.ok(umount.success, new TextDecoder().decode(umount.stderr));
          }
          assert.equal(tracefsMounted(), false, "tracefs is unmounted for the test");
          const result = await inProcess(["doctor", "-o", "json", "-r", lab.socket]);
          const checks = byName(parseRows(result.stdout));
          assert.equal(checks["tracefs"]?.status, "ok");
          assert.match(
            checks["tracefs"]!.detail,
            /^was not mounted: mounted it at \/sys\/kernel\/tracing/,
          );
          assert.equal(checks["tracepoints"]?.status, "ok");
          assert.equal(checks["bpf"]?.status, "ok");
          assert.equal(result.code, 0, result.stderr);
          assert.ok(tracefsMounted(), "doctor left tracefs mounted");
        } finally {
          if (!tracefsMounted()) {
            await sh("mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing");
          }
        }
      });
    });
  },
);

realTest(
  "doctor in a private PID namespace while the runtime runs on the host: pid-namespace fails, exit 8",
  async () => {
    await withLab(async (lab) => {
      const out = await new Deno.Command("unshare", {
        args: [
          "--pid",
          "--fork",
          "--mount-proc",
          Deno.execPath(),
          "run",
          "-A",
          "--quiet",
          "src/main.ts",
          "doctor",
          "-o",
          "json",
          "-r",
          lab.socket,
        ],
        cwd: REPO,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      const rows = parseRows(new TextDecoder().decode(out.stdout));
      const check = byName(rows)["pid-namespace"]!;
      assert.equal(check.status, "fail");
      assert.match(
        check.detail,
        new RegExp(
          `^private PID namespace pid:\\[\\d+\\] from which the runtime is invisible \\(behind "${lab.socket}"\\)$`,
        ),
      );
      assert.match(check.hint!, /hostPID: true/);
      assert.deepEqual(rows.filter((r) => r.status !== "ok").map((r) => r.name), ["pid-namespace"]);
      assert.equal(out.code, ExitCode.PidNamespaceBlind, stderr);
      assertSummaryOnly(stderr, rows);
    });
  },
);

realTest(
  "doctor -r /nonexistent.sock: runtime fails, exit 3, pid-namespace skipped, every other check ok",
  async () => {
    const result = await runCli(["doctor", "-o", "json", "-r", "/nonexistent.sock"]);
    const rows = parseRows(result.stdout);
    const checks = byName(rows);
    assert.equal(checks["runtime"]?.status, "fail");
    assert.equal(
      checks["runtime"]?.detail,
      "no runtime answered: unix:///nonexistent.sock (missing)",
    );
    assert.match(checks["runtime"]!.hint!, /--runtime-endpoint/);
    assert.deepEqual(
      rows.filter((r) => r.status !== "ok").map((r) => [r.name, r.status]),
      [["runtime", "fail"], ["pid-namespace", "skip"]],
    );
    assert.equal(result.code, ExitCode.RuntimeUnavailable);
    assertSummaryOnly(result.stderr, rows);
  },
);

realTest(
  "doctor --libbpf /nonexistent/libbpf.so.1: libbpf fails, bpf is skipped, exit 6",
  async () => {
    const result = await runCli([
      "doctor",
      "-o",
      "json",
      "--libbpf",
      "/nonexistent/libbpf.so.1",
      "-r",
      "/nonexistent.sock",
    ]);
    const rows = parseRows(result.stdout);
    const checks = byName(rows);
    assert.equal(checks["libbpf"]?.status, "fail");
    assert.match(checks["libbpf"]!.detail, /"\/nonexistent\/libbpf\.so\.1"/);
    assert.match(checks["libbpf"]!.hint!, /apt-get install libbpf1/);
    assert.deepEqual([checks["bpf"]?.status, checks["bpf"]?.detail], ["skip", "needs libbpf"]);
    // libbpf (6) comes before runtime (3): the first failure decides.
    assert.equal(result.code, ExitCode.NotSupported);
    assertSummaryOnly(result.stderr, rows);
  },
);

// --- as an unprivileged user ----------------------------------------------------------

let nobodyDenoDir: Promise<string> | undefined;
/** A copy of the deno cache owned by nobody (root's is under /root, mode 0700). */
function denoDirForNobody(): Promise<string> {
  return nobodyDenoDir ??= (async () => {
    const info = await sh(Deno.execPath(), "info", "--json");
    const { denoDir } = JSON.parse(new TextDecoder().decode(info.stdout)) as { denoDir: string };
    const dir = await Deno.makeTempDir({ prefix: "crdoc-" });
    // A running deno may remove a SQLite journal mid-copy: try again.
    let copied = false;
    for (let attempt = 0; attempt < 3 && !copied; attempt++) {
      copied = (await sh("cp", "-a", `${denoDir}/.`, dir)).success;
    }
    assert.ok(copied, "copy the deno cache");
    assert.ok((await sh("chown", "-R", `${NOBODY}:${NOBODY}`, dir)).success, "chown it");
    return dir;
  })();
}

Deno.test.afterAll(async () => {
  if (nobodyDenoDir) await Deno.remove(await nobodyDenoDir, { recursive: true });
});

realTest(
  "doctor as uid 65534 without capabilities: privileges fail, bpf skipped, exit 4",
  async () => {
    const denoDir = await denoDirForNobody();
    const out = await new Deno.Command("setpriv", {
      args: [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        "--cached-only",
        "src/main.ts",
        "doctor",
        "-o",
        "json",
        "-r",
        join(REPO, "nonexistent.sock"),
      ],
      cwd: REPO,
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const rows = parseRows(stdout);
    const checks = byName(rows);
    assert.equal(checks["privileges"]?.status, "fail");
    assert.match(checks["privileges"]!.detail, /^uid 65534, CapEff 0{16} has none of /);
    assert.match(checks["privileges"]!.hint!, /run as root/);
    assert.equal(checks["bpf"]?.status, "skip");
    assert.equal(checks["bpf"]?.detail, "needs privileges");
    assert.equal(out.code, ExitCode.PermissionDenied, stderr);
    assertSummaryOnly(stderr, rows);
  },
);
