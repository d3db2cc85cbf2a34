/**
 * The PID namespace: whether crienrich's `/proc` (or `--host-root`'s) shows the runtime's
 * processes, as `trace`, `ps` and `inspect` require (`src/runtime/pid_namespace.ts`).
 *
 * @module
 */
import { join } from "node:path";
import {
  BLIND_HINT,
  describePidNamespace,
  detectPidNamespace,
  type PidNamespaceView,
  procShowsInitialPidNamespace,
} from "../runtime/pid_namespace.ts";
import { probeAll, readEndpointSettings } from "../runtime/discovery.ts";
import { ExitCode } from "../errors.ts";
import { type Check, fail, ok, type Outcome } from "./check.ts";

/**
 * Judges a view: `ok` for `host` and `node` (a node container such as kind, where pids are
 * that namespace's); `fail` with exit code 8 for `blind`.
 *
 * @param view What {@linkcode detectPidNamespace} found.
 * @param procRoot The procfs looked at, for the detail.
 * @param socketPath The runtime socket whose peer was looked at, for the detail.
 */
export function judgePidNamespace(
  view: PidNamespaceView,
  procRoot: string,
  socketPath: string,
): Outcome {
  const detail = describePidNamespace(view, procRoot);
  if (view.kind !== "blind") return ok(detail);
  return fail(`${detail} (behind "${socketPath}")`, BLIND_HINT, ExitCode.PidNamespaceBlind);
}

/**
 * Check `pid-namespace`. Outside the host's PID namespace the socket looked at is the one the
 * commands would use (the first endpoint that answers), so it runs after `runtime`.
 */
export const pidNamespaceCheck: Check = {
  name: "pid-namespace",
  needs: ["runtime"],
  async run(options) {
    const procRoot = join(options.hostRoot ?? "/", "proc");
    // The common case needs no socket: only a private namespace asks who listens on it.
    if (await procShowsInitialPidNamespace(procRoot)) {
      return judgePidNamespace({ kind: "host" }, procRoot, "");
    }
    const settings = await readEndpointSettings(options.runtimeEndpoint, options.hostRoot);
    const probes = await probeAll({ ...settings, timeoutMs: options.timeoutMs });
    const endpoint = probes.find((p) => p.status === "ok")?.endpoint;
    if (endpoint === undefined) throw new Error("no runtime answered any more");
    const socketPath = endpoint.replace(/^unix:\/\//, "");
    return judgePidNamespace(
      await detectPidNamespace({ procRoot, criSocketPath: socketPath }),
      procRoot,
      socketPath,
    );
  },
};
