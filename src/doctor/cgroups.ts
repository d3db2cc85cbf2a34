/**
 * The cgroup layout, and what it means for crienrich's output.
 *
 * crienrich joins events to containers by mount namespace, which works on every layout.
 * The cgroup id (`bpf_get_current_cgroup_id()`, `cgroup_id` in records and events) names a
 * directory of the cgroup v2 tree; with no v2 tree it matches nothing.
 *
 * @module
 */
import { type CgroupLayout, cgroupLayout, findCgroupV2Root } from "../runtime/cgroup.ts";
import { NotSupportedError } from "../errors.ts";
import { type Check, ok, type Outcome, warn } from "./check.ts";

const V1_CAVEAT =
  "cgroup ids are meaningless (cgroup_id is null); the mount namespace join still works";
const V2_HINT = "optional: boot with systemd.unified_cgroup_hierarchy=1 for cgroup ids";

/** Judges a layout: v2 and hybrid are `ok` (both have the v2 tree), v1-only a `warn`. */
export function judgeCgroupLayout(layout: CgroupLayout, v2Root: string | undefined): Outcome {
  switch (layout) {
    case "v2":
      return ok(`v2 (unified) at ${v2Root}`);
    case "hybrid":
      return ok(`hybrid: v1 controllers, v2 tree at ${v2Root} (cgroup ids come from it)`);
    case "v1":
      return warn(`v1 only: ${V1_CAVEAT}`, V2_HINT);
  }
}

/** Check `cgroups`: the layout from `/proc/self/mountinfo`. */
export const cgroupsCheck: Check = {
  name: "cgroups",
  run() {
    const mountinfo = Deno.readTextFileSync("/proc/self/mountinfo");
    try {
      return judgeCgroupLayout(cgroupLayout(mountinfo), findCgroupV2Root(mountinfo));
    } catch (error) {
      if (!(error instanceof NotSupportedError)) throw error;
      return warn(`no cgroup filesystem mounted: ${V1_CAVEAT}`, V2_HINT);
    }
  },
};
