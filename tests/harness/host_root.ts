/**
 * crienrich run as a DaemonSet without `hostPID` but with the host's / mounted would run:
 * in a private PID namespace, with `--host-root` pointing at the host's /proc and /sys.
 *
 * @module
 */

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/**
 * Spawns `crienrich ARGS --host-root ROOT` as pid 1 of a new PID namespace, with the host's
 * /proc and /sys bind-mounted under ROOT. The mounts live in a private mount namespace that
 * ends with the command: nothing stays mounted, nothing propagates back to the host.
 */
export function spawnWithHostRoot(root: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "bash",
      "-c",
      `set -e; mkdir -p "$1/proc" "$1/sys"
       mount --bind /proc "$1/proc"; mount --rbind /sys "$1/sys"
       shift; exec unshare --pid --fork --mount-proc "$@"`,
      "bash",
      root,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      MAIN,
      ...args,
      "--host-root",
      root,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}
