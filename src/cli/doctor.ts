/**
 * `crienrich doctor`: a preflight of the node, one line per check with `ok`, `warn`,
 * `fail` or `skip` and what to do (checks: `src/doctor/`).
 *
 * @module
 */
import { type CheckResult, reportExitCode, runChecks, summarize } from "../doctor/mod.ts";
import { type Column, describeColumns, renderTable } from "../output/table.ts";
import { GLOBAL_HELP, parseCommandArgs, parseEventKinds, parseOutputFormat } from "./options.ts";
import { ExitCode } from "../errors.ts";
import type { CommandIO } from "./io.ts";

const COLUMNS: readonly Column<CheckResult>[] = [
  { header: "CHECK", description: "what is checked", value: (r) => r.name },
  {
    header: "STATUS",
    description: "ok, warn, fail, or skip (a check it needs failed)",
    value: (r) => r.status,
  },
  {
    header: "DETAIL",
    description: "what was found — and, for warn and fail, what to do",
    value: (r) => (r.hint ? `${r.detail} — ${r.hint}` : r.detail),
  },
];

const HELP = `Usage: crienrich doctor [-o table|json] [--events KINDS] [--libbpf PATH]

Checks, as root, that this node can run crienrich, in this order: privileges (root;
CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN), kernel (warn below 5.8, fail below 4.18), btf
(/sys/kernel/btf/vmlinux), tracefs (mounted here when absent, as trace would), tracepoints
(those of each event kind: sched_process_exec/exit; sock:inet_sock_set_state and the accept
syscalls for TCP; the openat/openat2 syscalls for open; missing ones fail for the kinds
named by --events, else warn), cgroups (v2 or hybrid ok, v1-only warn), libbpf,
runtime (every CRI, Docker Engine, Podman and containerd endpoint, each socket once, or only
the one named by -r; ok when one answers, naming each runtime found with its kind, version and API version, and
each that did not answer), pid-namespace (/proc, or that
of --host-root, shows the host's PID namespace, or a private one holding the runtime as in a
kind node), bpf (the tracer loads, attaches the programs of every kind checked, maps its
perf buffer and detaches; bpftool confirms nothing is left).

A check whose prerequisite failed is skipped. A summary line goes to stderr.
Exit code: 0 when nothing failed (warnings included); else that of the first failed check:
4 permission, 6 the node cannot trace (kernel, BTF, tracefs, tracepoints, libbpf, BPF
load), 3 no runtime answered, 8 the runtime's processes are invisible from this PID
namespace, 1 an unexpected failure.

Flags:
  -o, --output F       table (default) or json (one object per check: name, status, detail, hint)
      --events KINDS   the kinds you will trace, as trace --events takes them (default: all:
                       exec,exit,connect,accept,close,open)
      --libbpf PATH    libbpf shared object to load (default: libbpf.so.1 from the system)

Columns:
${describeColumns(COLUMNS)}

${GLOBAL_HELP}`;

/**
 * Runs `crienrich doctor`: prints each check, the summary on stderr, and returns the exit
 * code of the first failed check (0 when none failed). Check failures are never thrown.
 * @throws {UsageError} on bad flags
 */
export async function runDoctor(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, global } = parseCommandArgs("doctor", args, {
    output: { type: "string", short: "o" },
    libbpf: { type: "string" },
    events: { type: "string" },
  });
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  const format = parseOutputFormat(values.output, ["table", "json"] as const, "table");
  const results: CheckResult[] = [];
  const checks = runChecks({
    timeoutMs: global.timeoutMs,
    ...(values.libbpf ? { libbpfPath: values.libbpf } : {}),
    ...(values.events !== undefined ? { events: parseEventKinds(values.events) } : {}),
    ...(global.runtimeEndpoint ? { runtimeEndpoint: global.runtimeEndpoint } : {}),
    ...(global.hostRoot ? { hostRoot: global.hostRoot } : {}),
  });
  for await (const result of checks) {
    results.push(result);
    if (format === "json") {
      const { name, status, detail, hint } = result;
      io.out.writeJson({ name, status, detail, hint });
    }
  }
  if (format === "table") {
    for (const line of renderTable(COLUMNS, results)) {
      io.out.writeLine(line);
    }
  }
  io.diagnostics(`crienrich: ${summarize(results)}`);
  return reportExitCode(results);
}
