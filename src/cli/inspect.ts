/**
 * `crienrich inspect`: one container's full record as JSON, found by id, unique id prefix,
 * unique name, `pid:N` (a host pid inside it) or `cgroup:ID` (its cgroup id).
 *
 * @module
 */
import { join } from "node:path";
import type { ContainerRecord } from "../runtime/record.ts";
import { parseCgroupPath } from "../runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "../runtime/proc.ts";
import { ExitCode, NotFoundError, RuntimeUnavailableError, UsageError } from "../errors.ts";
import { GLOBAL_HELP, parseCommandArgs, parseOutputFormat } from "./options.ts";
import { openRuntimeClient } from "./context.ts";
import { unansweredHint } from "../runtime/runtime_set.ts";
import type { CommandIO } from "./io.ts";

/** The kernel's largest pid (PID_MAX_LIMIT, include/linux/threads.h, 64-bit). */
export const PID_MAX_LIMIT = 4_194_304;

const HELP =
  `Usage: crienrich inspect <container-id | unique id prefix | name | pid:N | cgroup:ID> [-o json]

Prints the container record as one JSON object (field reference: README "Container record").
  name        the container's name (docker run --name, the pod spec's); a hex word is an id
              prefix first, a name when no id starts with it
  pid:N       the container a host process belongs to (by its cgroup, else its mount namespace);
              N from 1 to ${PID_MAX_LIMIT}
  cgroup:ID   the container whose cgroup v2 id is ID (as bpf_get_current_cgroup_id()), a u64
An unknown id or name, an ambiguous prefix or name, or a pid outside any container is an
error (exit code 5);
a malformed reference is a usage error (exit code 2).

Flags:
  -o, --output F       json, the only format (accepted so scripts can say it, as for ps)

${GLOBAL_HELP}`;

/** The largest cgroup id: they are u64 (kernfs node ids). */
const U64_MAX = 2n ** 64n - 1n;

/** A parsed `inspect` argument. */
export type InspectTarget =
  | { kind: "prefix"; prefix: string }
  | { kind: "name"; name: string }
  | { kind: "pid"; pid: number }
  | { kind: "cgroup"; cgroupId: bigint };

/**
 * Parses the `inspect` argument: a hex id prefix, a container name (Docker's alphabet:
 * `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, a superset of Kubernetes' DNS labels), `pid:N` (1 to
 * {@linkcode PID_MAX_LIMIT}) or `cgroup:ID` (1 to 2^64-1, parsed exactly as a bigint).
 * @throws {UsageError} on anything else, pid 0, a negative or out-of-range number
 * @example parseInspectTarget("cgroup:18446744073709551615") // { kind: "cgroup", cgroupId: 18446744073709551615n }
 */
export function parseInspectTarget(text: string): InspectTarget {
  const [, kind, number] = /^(pid|cgroup):(.*)$/.exec(text) ?? [];
  if (kind === "pid") {
    const pid = /^[1-9]\d{0,9}$/.test(number!) ? Number(number) : NaN;
    if (!(pid <= PID_MAX_LIMIT)) {
      throw new UsageError(
        `Invalid pid "${number}" in "${text}": expected a number from 1 to ${PID_MAX_LIMIT}`,
      );
    }
    return { kind: "pid", pid };
  }
  if (kind === "cgroup") {
    const id = /^[1-9]\d{0,19}$/.test(number!) ? BigInt(number!) : 0n;
    if (id < 1n || id > U64_MAX) {
      throw new UsageError(
        `Invalid cgroup id "${number}" in "${text}": expected a number from 1 to 2^64-1`,
      );
    }
    return { kind: "cgroup", cgroupId: id };
  }
  if (/^[0-9a-f]{1,64}$/.test(text)) return { kind: "prefix", prefix: text };
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}$/.test(text)) return { kind: "name", name: text };
  throw new UsageError(
    `Invalid container reference "${text}": expected a hex id or prefix, a name, pid:N or cgroup:ID`,
  );
}

/**
 * Finds the one record `target` names among `records`.
 * @param pidFacts for pid targets: the container id its cgroup path shows, and its mntns id.
 * @param unanswered runtimes found that did not answer (`RuntimeSet.unanswered`): their
 *   containers may be missing from `records`, so no match proves nothing, and one match by
 *   name or id prefix may not be the only one (a full id, a pid's or cgroup id's container
 *   is).
 * @throws {NotFoundError} when none matches, or a prefix matches several (naming them).
 * @throws {RuntimeUnavailableError} when `unanswered` leaves the answer unproven.
 */
export function findRecord(
  records: readonly ContainerRecord[],
  target: InspectTarget,
  pidFacts: { containerId?: string; mntnsId?: number } = {},
  unanswered: readonly string[] = [],
): ContainerRecord {
  let matches: ContainerRecord[];
  let what: string;
  switch (target.kind) {
    case "prefix":
      matches = records.filter((r) => r.id.startsWith(target.prefix));
      // A hex word that starts no id may be a name (`cafe`, `deadbeef`).
      if (matches.length === 0) matches = records.filter((r) => r.name === target.prefix);
      what = `container "${target.prefix}"`;
      break;
    case "name":
      matches = records.filter((r) => r.name === target.name);
      what = `container "${target.name}"`;
      break;
    case "cgroup":
      // Compared as u64: a record's id is a number, exact below 2^53 (inode numbers).
      matches = records.filter((r) =>
        r.cgroup_id !== null && Number.isSafeInteger(r.cgroup_id) &&
        BigInt(r.cgroup_id) === target.cgroupId
      );
      what = `container with cgroup id ${target.cgroupId}`;
      break;
    case "pid":
      matches = records.filter((r) => r.id === pidFacts.containerId);
      if (matches.length === 0 && pidFacts.mntnsId !== undefined) {
        matches = records.filter((r) => r.mntns_id === pidFacts.mntnsId);
      }
      what = `container of pid ${target.pid}`;
      break;
  }
  const silent = unansweredHint(unanswered) ?? "";
  if (matches.length === 1) {
    const proven = target.kind === "pid" || target.kind === "cgroup" ||
      (target.kind === "prefix" && matches[0]!.id === target.prefix);
    if (proven || !silent) return matches[0]!;
    throw new RuntimeUnavailableError(`Cannot tell whether ${what} is the only one: ${silent}`);
  }
  if (matches.length === 0) {
    if (silent) throw new RuntimeUnavailableError(`Cannot find ${what}: ${silent}`);
    throw new NotFoundError(`No ${what} in the runtime`);
  }
  // Each named with its runtime: a Docker and a Podman container may share a name.
  const candidates = matches.map((r) =>
    `${r.id.slice(0, 13)} (${r.pod ? `${r.pod.namespace}/${r.pod.name}/` : ""}${r.name}, ${
      r.containerd_namespace ? `containerd namespace ${r.containerd_namespace}` : r.runtime
    })`
  );
  throw new NotFoundError(`Ambiguous ${what}: matches ${candidates.join(", ")}`);
}

async function pidFacts(
  pid: number,
  hostRoot: string | undefined,
): Promise<{ containerId?: string; mntnsId?: number }> {
  const procRoot = join(hostRoot ?? "/", "proc");
  const path = await cgroupPathOfPid(pid, procRoot); // NotFoundError when no such pid
  const facts: { containerId?: string; mntnsId?: number } = {};
  const ref = parseCgroupPath(path);
  if (ref) facts.containerId = ref.containerId;
  const mntns = await mountNamespaceIdOfPid(pid, procRoot).catch(() => undefined);
  if (mntns !== undefined) facts.mntnsId = Number(mntns);
  return facts;
}

/** Runs `crienrich inspect`. Returns the exit code. @throws {CliError} */
export async function runInspect(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, positionals, global } = parseCommandArgs("inspect", args, {
    output: { type: "string", short: "o" },
  }, true);
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  // The record is JSON already: -o json is accepted (as ps and trace take -o), nothing else.
  parseOutputFormat(values.output, ["json"] as const, "json");
  if (positionals.length !== 1) {
    const got = positionals.length === 0 ? "none" : positionals.map((p) => `"${p}"`).join(", ");
    throw new UsageError(
      `inspect takes exactly one container reference, got ${got} (see "crienrich inspect --help")`,
    );
  }
  const target = parseInspectTarget(positionals[0]!);
  const facts = target.kind === "pid" ? await pidFacts(target.pid, global.hostRoot) : {};
  const runtime = await openRuntimeClient(global, io.diagnostics);
  try {
    const records = await runtime.list();
    const record = findRecord(records, target, facts, runtime.unanswered());
    io.out.writeLine(JSON.stringify(record, null, 2));
  } finally {
    runtime.close();
  }
  return ExitCode.Ok;
}
