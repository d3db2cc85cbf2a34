/**
 * `crienrich ps`: containers with their pods, filtered like `crictl ps` / `kubectl get -l`.
 *
 * @module
 */
import { type Column, describeColumns, renderTable } from "../output/table.ts";
import { namespaceOf } from "../runtime/selector.ts";
import type { ContainerRecord } from "../runtime/record.ts";
import {
  type ContainerSelector,
  matchesSelector,
  parseLabelSelector,
} from "../runtime/selector.ts";
import { ExitCode, NotFoundError, RuntimeUnavailableError, UsageError } from "../errors.ts";
import { GLOBAL_HELP, parseCommandArgs, parseOutputFormat } from "./options.ts";
import { openRuntimeClient } from "./context.ts";
import type { CommandIO } from "./io.ts";

const labelsText = (labels: Record<string, string>) =>
  Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");

/** Columns of `ps -o wide`; `ps` shows those not marked (wide). */
export const PS_COLUMNS: readonly Column<ContainerRecord>[] = [
  {
    header: "CONTAINER",
    description: "container id (first 13 hex)",
    value: (r) => r.id.slice(0, 13),
  },
  { header: "NAME", description: "container name", value: (r) => r.name },
  { header: "POD", description: "pod name; - outside any pod", value: (r) => r.pod?.name ?? "-" },
  {
    header: "NAMESPACE",
    description: "pod namespace; containerd's namespace for containerd's own API; else -",
    value: (r) => namespaceOf(r) ?? "-",
  },
  { header: "STATE", description: "created, running, exited, unknown", value: (r) => r.state },
  {
    header: "IMAGE",
    description: "image as the pod spec names it",
    value: (r) => r.image,
    maxWidth: 48,
  },
  {
    header: "PID",
    description: "host pid of the container's init",
    value: (r) => String(r.pid ?? ""),
  },
  {
    header: "CGROUP ID",
    description: "(wide) cgroup v2 id, as bpf_get_current_cgroup_id()",
    value: (r) => String(r.cgroup_id ?? ""),
  },
  {
    header: "MNTNS",
    description: "(wide) mount namespace id",
    value: (r) => String(r.mntns_id ?? ""),
  },
  { header: "POD UID", description: "(wide) pod uid", value: (r) => r.pod?.uid ?? "-" },
  {
    header: "COMPOSE",
    description: "(wide) Compose project/service; - when not created by Compose",
    value: (r) => r.compose ? `${r.compose.project}/${r.compose.service}` : "-",
  },
  {
    header: "RUNTIME",
    description: "runtime that answered (containerd, cri-o, docker, podman)",
    value: (r) => r.runtime,
  },
  {
    header: "LABELS",
    description: "(wide) pod labels; the container's own outside any pod",
    value: (r) => labelsText(r.pod?.labels ?? r.labels),
  },
];
/** `ps` without `-o wide`: the columns whose description is not marked (wide). */
const NARROW = PS_COLUMNS.filter((c) => !c.description.startsWith("(wide)"));

const HELP =
  `Usage: crienrich ps [--pod P] [-n NS] [--container C] [-l key=value]... [-a] [-o table|wide|json]

Lists the containers of every runtime found (CRI, Docker Engine, Podman, containerd's own
API) with their pods. Filters are ANDed; -l matches a pod label or a container label. Without -n every namespace is shown (as crictl). Running containers only
unless -a. A --pod, -n or --container that matches nothing is an error (exit code 5).

Flags:
      --pod P          pod name
  -n, --namespace NS   pod namespace
      --container C    container name
  -l, --label K=V      label selector, repeatable or comma-separated
  -a, --all            include created and exited containers
  -o, --output F       table (default), wide, or json (one container record per line)

Columns:
${describeColumns(PS_COLUMNS)}

${GLOBAL_HELP}`;

/** Flags that select containers, shared by `ps` and `trace`. */
export const SELECTOR_OPTIONS = {
  pod: { type: "string" },
  namespace: { type: "string", short: "n" },
  container: { type: "string" },
  label: { type: "string", short: "l", multiple: true },
} as const;

// deno-lint-ignore no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A selector value must name something: not empty, no control characters. */
function checkName(value: string | undefined, flag: string, what: string): void {
  if (value === undefined) return;
  if (value === "") throw new UsageError(`Invalid ${flag} "": expected a ${what}`);
  // No kubelet-created name or label holds one; refusing them keeps messages one line.
  if (CONTROL.test(value)) {
    throw new UsageError(`Invalid ${flag} "${value}": contains control characters`);
  }
}

/**
 * Builds a selector from parsed {@linkcode SELECTOR_OPTIONS}.
 * @throws {UsageError} on an empty `--pod`, `-n` or `--container`, a label without a key
 *   (`-l =x`), or a value with control characters.
 */
export function selectorFromValues(values: {
  pod?: string;
  namespace?: string;
  container?: string;
  label?: string[];
}): ContainerSelector {
  checkName(values.pod, "--pod", "pod name");
  checkName(values.namespace, "-n", "namespace");
  checkName(values.container, "--container", "container name");
  for (const item of values.label ?? []) checkName(item, "-l", "label selector key=value");
  const labels = parseLabelSelector(values.label ?? []);
  if ("" in labels) {
    const bad = (values.label ?? []).flatMap((i) => i.split(",")).find((i) => /^\s*=/.test(i));
    throw new UsageError(`Invalid label selector "${bad ?? ""}": expected key=value`);
  }
  return {
    ...(values.pod !== undefined ? { pod: values.pod } : {}),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values.container !== undefined ? { container: values.container } : {}),
    labels,
  };
}

/**
 * One line naming what a selector asked for, e.g. `pod "foo", namespace "demo"`, as typed:
 * `src/main.ts` escapes every diagnostic and error line, so control characters in it never
 * reach the terminal.
 */
export function selectorText(selector: ContainerSelector): string {
  const parts = [
    selector.container !== undefined ? `container "${selector.container}"` : "",
    selector.pod !== undefined ? `pod "${selector.pod}"` : "",
    selector.namespace !== undefined ? `namespace "${selector.namespace}"` : "",
    Object.keys(selector.labels ?? {}).length ? `labels ${labelsText(selector.labels!)}` : "",
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "any container";
}

function compareRecords(a: ContainerRecord, b: ContainerRecord): number {
  return (namespaceOf(a) ?? "").localeCompare(namespaceOf(b) ?? "") ||
    (a.pod?.name ?? "").localeCompare(b.pod?.name ?? "") ||
    a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** Runs `crienrich ps`. Returns the exit code. @throws {CliError} */
export async function runPs(args: string[], io: CommandIO): Promise<ExitCode> {
  const { values, global } = parseCommandArgs("ps", args, {
    ...SELECTOR_OPTIONS,
    all: { type: "boolean", short: "a" },
    output: { type: "string", short: "o" },
  });
  if (global.help) {
    io.out.writeLine(HELP);
    return ExitCode.Ok;
  }
  const format = parseOutputFormat(values.output, ["table", "wide", "json"] as const, "table");
  const selector = { ...selectorFromValues(values), includeStopped: values.all === true };
  const runtime = await openRuntimeClient(global, io.diagnostics);
  let records: ContainerRecord[];
  try {
    records = (await runtime.list()).filter((r) => matchesSelector(r, selector)).sort(
      compareRecords,
    );
  } finally {
    runtime.close();
  }
  const named = selector.pod !== undefined || selector.namespace !== undefined ||
    selector.container !== undefined;
  if (named && records.length === 0) {
    const silent = runtime.unansweredHint();
    if (silent) {
      throw new RuntimeUnavailableError(
        `Cannot tell whether a container matches ${selectorText(selector)}: ${silent}`,
      );
    }
    throw new NotFoundError(
      `No ${selector.includeStopped ? "" : "running "}container matches ${
        selectorText(selector)
      } on ${runtime.describe()}`,
    );
  }
  if (format === "json") {
    for (const record of records) if (!io.out.writeJson(record)) break;
  } else {
    const columns = format === "wide" ? PS_COLUMNS : NARROW;
    for (const line of renderTable(columns, records)) if (!io.out.writeLine(line)) break;
  }
  return ExitCode.Ok;
}
