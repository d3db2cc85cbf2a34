/**
 * Build-time generator of `event_layout.gen.ts` from the BTF of the compiled BPF object.
 *
 * The decoder must never hand-type an offset (a field added to `bpf/event.h` would shift
 * silently). Instead `scripts/bpf_build.sh` runs `bpftool -j btf dump file crienrich.bpf.o`
 * and this module turns that JSON into TypeScript constants: the layout of
 * `struct crienrich_event`, `crienrich_net_event`, `crienrich_open_event`,
 * `crienrich_cgroup_sample` and `crienrich_config`, the offset of the config in
 * `.rodata`, and the values of the enums of `event.h` — the idea of cilium/ebpf's bpf2go.
 * Not imported at run time.
 *
 * Usage (by the build script only):
 * `deno run --allow-read src/bpf/btf_layout.ts BTF_JSON OBJECT_SHA256 TOOLCHAIN SOURCE...`
 *
 * @module
 */

/** One entry of `bpftool -j btf dump`'s `types` array (the subset read here). */
export interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number; offset: number; size: number }[];
}

/** Byte offset and size of one struct member, in bytes. */
export interface FieldLayout {
  offset: number;
  size: number;
}

/** Inputs recorded in the generated banner, so a test can tell when outputs are stale. */
export interface LayoutProvenance {
  /** sha256 (hex) of the stripped object the BTF was read from. */
  objectSha256: string;
  /** Compiler, bpftool and libbpf header versions. */
  toolchain: string;
  /** Repository-relative path → sha256 (hex) of every build input. */
  sources: Record<string, string>;
}

const EVENT_STRUCT = "crienrich_event";
const CGROUP_STRUCT = "crienrich_cgroup_sample";
const NET_STRUCT = "crienrich_net_event";
const OPEN_STRUCT = "crienrich_open_event";
/** Open samples end `path_size` bytes into this field, the struct's last (see bpf/event.h). */
const OPEN_TAIL_FIELD = "path";
const CONFIG_STRUCT = "crienrich_config";
const CONFIG_VAR = "crienrich_config";
const ENUMS = [
  "crienrich_event_type",
  "crienrich_event_flag",
  "crienrich_cgroup_flag",
  "crienrich_failed_kind",
  "crienrich_verdict",
];
/** Exit samples end where the strings begin (see bpf/event.h). */
const EXIT_HEAD_END_FIELD = "filename";
/** Exec samples end `args_size` bytes into this field, the struct's last (see bpf/event.h). */
const EXEC_TAIL_FIELD = "args";

class BtfIndex {
  readonly #byId = new Map<number, BtfType>();
  constructor(types: BtfType[]) {
    for (const t of types) this.#byId.set(t.id, t);
  }
  get(id: number): BtfType {
    const t = this.#byId.get(id);
    if (!t) throw new Error(`Cannot resolve BTF type id ${id}`);
    return t;
  }
  find(kind: string, name: string): BtfType {
    for (const t of this.#byId.values()) if (t.kind === kind && t.name === name) return t;
    throw new Error(`Cannot find BTF ${kind} "${name}" in the object: was event.h changed?`);
  }
  /** Size in bytes of a type, through typedefs and qualifiers. */
  sizeOf(id: number): number {
    const t = this.get(id);
    switch (t.kind) {
      case "TYPEDEF":
      case "CONST":
      case "VOLATILE":
        return this.sizeOf(t.type_id!);
      case "ARRAY":
        return t.nr_elems! * this.sizeOf(t.type_id!);
      case "PTR":
        return 8;
      default:
        if (t.size === undefined) throw new Error(`BTF ${t.kind} "${t.name}" has no size`);
        return t.size;
    }
  }
  /** Member layouts of a struct; rejects bitfields, which a DataView decoder cannot read. */
  fields(struct: BtfType): Record<string, FieldLayout> {
    const out: Record<string, FieldLayout> = {};
    for (const m of struct.members ?? []) {
      if (m.bitfield_size || m.bits_offset % 8 !== 0) {
        throw new Error(`Field "${struct.name}.${m.name}" is a bitfield: not supported`);
      }
      out[m.name] = { offset: m.bits_offset / 8, size: this.sizeOf(m.type_id) };
    }
    return out;
  }
}

function fieldTable(fields: Record<string, FieldLayout>): string {
  return Object.entries(fields)
    .map(([name, f]) => `  ${name}: { offset: ${f.offset}, size: ${f.size} },`)
    .join("\n");
}

/**
 * Renders the TypeScript module from the parsed `bpftool -j btf dump` JSON.
 *
 * @throws {Error} when a struct, enum or the config variable is missing from the BTF, or a
 * field is a bitfield.
 */
export function renderEventLayout(btf: { types: BtfType[] }, provenance: LayoutProvenance): string {
  const index = new BtfIndex(btf.types);
  const event = index.find("STRUCT", EVENT_STRUCT);
  const config = index.find("STRUCT", CONFIG_STRUCT);
  const cgroup = index.find("STRUCT", CGROUP_STRUCT);
  const namesMember = cgroup.members?.find((m) => m.name === "names");
  const namesArray = namesMember && index.get(namesMember.type_id);
  if (namesArray?.kind !== "ARRAY") throw new Error(`Cannot find array "${CGROUP_STRUCT}.names"`);
  const nameSize = index.sizeOf(namesArray.type_id!);
  const eventFields = index.fields(event);
  const exitEnd = eventFields[EXIT_HEAD_END_FIELD];
  if (!exitEnd) throw new Error(`Cannot find field "${EXIT_HEAD_END_FIELD}" in the event`);
  const execTail = eventFields[EXEC_TAIL_FIELD];
  if (!execTail) throw new Error(`Cannot find field "${EXEC_TAIL_FIELD}" in the event`);
  const eventSize = index.sizeOf(event.id);
  if (execTail.offset + execTail.size !== eventSize) {
    throw new Error(`Field "${EXEC_TAIL_FIELD}" must end the event: exec samples are cut in it`);
  }
  const net = index.find("STRUCT", NET_STRUCT);
  const open = index.find("STRUCT", OPEN_STRUCT);
  const openFields = index.fields(open);
  const openTail = openFields[OPEN_TAIL_FIELD];
  if (!openTail || openTail.offset + openTail.size !== index.sizeOf(open.id)) {
    throw new Error(`Field "${OPEN_TAIL_FIELD}" must end the open event: samples are cut in it`);
  }
  const configVar = index.find("VAR", CONFIG_VAR);
  const rodata = index.find("DATASEC", ".rodata");
  const placed = rodata.vars?.find((v) => v.type_id === configVar.id);
  if (!placed) throw new Error(`Cannot find "${CONFIG_VAR}" in the .rodata section`);

  const enumLines = ENUMS.flatMap((name) =>
    (index.find("ENUM", name).values ?? []).map((v) =>
      `/** \`${v.name}\` of \`enum ${name}\`. */\nexport const ${v.name} = ${v.val};`
    )
  );
  const sourceLines = Object.entries(provenance.sources).map(([path, sha]) =>
    `  "${path}": "${sha}",`
  );
  return `// Generated by scripts/bpf_build.sh from the BTF of bpf/crienrich.bpf.o. DO NOT EDIT.
// Source of truth: bpf/event.h. Regenerate with \`deno task bpf\`.

/**
 * Layout of crienrich's BPF events and config, read from the compiled object's BTF.
 *
 * @module
 */

/** sha256 (hex) of bpf/crienrich.bpf.o as built with these sources. */
export const OBJECT_SHA256 = "${provenance.objectSha256}";
/** Compiler, bpftool and libbpf header versions of the build. */
export const TOOLCHAIN = ${JSON.stringify(provenance.toolchain)};
/** sha256 (hex) of every build input, by repository-relative path. */
export const SOURCE_SHA256: Readonly<Record<string, string>> = {
${sourceLines.join("\n")}
};

/** Size of \`struct ${EVENT_STRUCT}\` in bytes: the longest exec sample (argv full). */
export const EVENT_SIZE = ${eventSize};
/** Shortest exec sample in bytes: the struct before \`${EXEC_TAIL_FIELD}\`; \`args_size\` bytes follow. */
export const EXEC_HEAD_SIZE = ${execTail.offset};
/** Length of an exit sample in bytes: the head of the struct, before \`${EXIT_HEAD_END_FIELD}\`. */
export const EXIT_EVENT_SIZE = ${exitEnd.offset};
/** Offset and size in bytes of each field of \`struct ${EVENT_STRUCT}\`. */
export const EVENT_FIELDS = {
${fieldTable(eventFields)}
} as const;

/** Size of \`struct ${CGROUP_STRUCT}\` in bytes: every cgroup sample is this long. */
export const CGROUP_SAMPLE_SIZE = ${index.sizeOf(cgroup.id)};
/** Bytes of one name in \`${CGROUP_STRUCT}.names\` (one cgroup level). */
export const CGROUP_NAME_SIZE = ${nameSize};
/** Offset and size in bytes of each field of \`struct ${CGROUP_STRUCT}\`. */
export const CGROUP_SAMPLE_FIELDS = {
${fieldTable(index.fields(cgroup))}
} as const;

/** Size of \`struct ${NET_STRUCT}\` in bytes: every TCP event sample is this long. */
export const NET_EVENT_SIZE = ${index.sizeOf(net.id)};
/** Offset and size in bytes of each field of \`struct ${NET_STRUCT}\`. */
export const NET_EVENT_FIELDS = {
${fieldTable(index.fields(net))}
} as const;

/** Shortest open sample in bytes: the struct before \`${OPEN_TAIL_FIELD}\`; \`path_size\` bytes follow. */
export const OPEN_HEAD_SIZE = ${openTail.offset};
/** Offset and size in bytes of each field of \`struct ${OPEN_STRUCT}\`. */
export const OPEN_EVENT_FIELDS = {
${fieldTable(openFields)}
} as const;

/** Size of \`struct ${CONFIG_STRUCT}\` in bytes. */
export const CONFIG_SIZE = ${index.sizeOf(config.id)};
/** Offset in bytes of the \`${CONFIG_VAR}\` variable inside the \`.rodata\` map's value. */
export const CONFIG_RODATA_OFFSET = ${placed.offset};
/** Offset and size in bytes of each field of \`struct ${CONFIG_STRUCT}\`. */
export const CONFIG_FIELDS = {
${fieldTable(index.fields(config))}
} as const;

${enumLines.join("\n")}
`;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  const [btfPath, objectSha256, toolchain, ...sourcePaths] = Deno.args;
  if (!btfPath || !objectSha256 || toolchain === undefined) {
    throw new TypeError("Usage: btf_layout.ts BTF_JSON OBJECT_SHA256 TOOLCHAIN SOURCE...");
  }
  const sources: Record<string, string> = {};
  for (const path of sourcePaths) sources[path] = await sha256Hex(await Deno.readFile(path));
  const btf = JSON.parse(await Deno.readTextFile(btfPath));
  const text = renderEventLayout(btf, { objectSha256, toolchain, sources });
  await Deno.stdout.write(new TextEncoder().encode(text));
}
