/**
 * `crienrich inspect`: one container's full record as JSON, found by id, unique id prefix,
 * `pid:N` (a host pid inside it) or `cgroup:ID` (its cgroup id).
 *
 * @module
 */
import { join } from "node:path";
import type { ContainerRecord } from "../runtime/record.ts";
import { parseCgroupPath } from "../runtime/cgroup.ts";
import { cgroupPathOfPid, mountNamespaceIdOfPid } from "../runtime/proc.ts";
import { ExitCode, NotFoundError, UsageError } from "../errors.ts";
import { GLOBAL_HELP, parseCommandArgs } from "./options.ts";
import { openInventory } from "./context.ts";
import type { CommandIO } from "./io.ts";

const HELP = `Usage: crienrich inspect <container-id | unique id prefix | pid:N | cgroup:ID>

Prints the container record as one JSON object (field reference: README "Container record").
  pid:N       the container a host process belongs to (by its cgroup, else its mount namespace)
  cgroup:ID   the container whose cgroup v2 id is ID (as bpf_get_current_cgroup_id())
An unknown id, an ambiguous prefix or a pid outside any container is an error (exit code 5).

${GLOBAL_HELP}`;

/** A parsed `inspect` argument. */
export type InspectTarget =
  | { kind: "prefix"; prefix: string }
  | { kind: "pid"; pid: number }
  | { kind: "cgroup"; cgroupId: number };

/** Parses the `inspect` argument. @throws {UsageError} */
export function parseInspectTarget(text: string): InspectTarget {
  let match = /^pid:(\d+)$/.exec(text);
  if (match) return { kind: "pid", pid: Number(match[1]) };
  match = /^cgroup:(\d+)$/.exec(text);
  if (match) return { kind: "cgroup", cgroupId: Number(match[1]) };
  if (/^[0-9a-f]{1,64}$/.test(text)) return { kind: "prefix", prefix: text };
  throw new UsageError(
    `Invalid container reference "${text}": expected a hex id or prefix, pid:N or cgroup:ID`,
  );
}

/**
 * Finds the one record `target` names among `records`.
 * @param pidFacts for pid targets: the container id its cgroup path shows, and its mntns id.
 * @throws {NotFoundError} when none matches, or a prefix matches several (naming them).
 */
export function findRecord(
  records: readonly ContainerRecord[],
  target: InspectTarget,
  pidFacts: { containerId?: string; mntnsId?: number } = {},
): ContainerRecord {
  let matches: ContainerRecord[];
  let what: string;
  switch (target.kind) {
    case "prefix":
      matches = records.filter((r) => r.id.startsWith(target.prefix));
      what = `container "${target.prefix}"`;
      break;
    case "cgroup":
      matches = records.filter((r) => r.cgroup_id === target.cgroupId);
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
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new NotFoundError(`No ${what} in the runtime`);
  const candidates = matches.map((r) =>
    `${r.id.slice(0, 13)} (${r.pod.namespace}/${r.pod.name}/${r.name})`
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
  const { positionals, global } = parseCommandArgs("inspect", args, {}, true);
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `inspect takes exactly one container reference, got ${positionals.length} (see "crienrich inspect --help")`,
    );
  }
  const target = parseInspectTarget(positionals[0]!);
  const facts = target.kind === "pid" ? await pidFacts(target.pid, global.hostRoot) : {};
  const inventory = await openInventory(global, io.diagnostics);
  try {
    const record = findRecord(await inventory.list(), target, facts);
    io.out.writeLine(JSON.stringify(record, null, 2));
  } finally {
    inventory.client.close();
  }
  return ExitCode.Ok;
}
