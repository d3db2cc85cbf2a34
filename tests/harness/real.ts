/**
 * Gate for tests that need the real kernel or a real runtime (root).
 *
 * Off CI, such a test is skipped with a note when not root. Under `CI=true` it is never
 * skipped: it runs and fails, because a skipped real test must not pass as green.
 *
 * @module
 */
import { Lab } from "../../scripts/lab/lab.ts";

/** True when running as root. */
export const IS_ROOT = Deno.uid() === 0;
/** True under CI (`CI=true`). */
export const IN_CI = Deno.env.get("CI") === "true";

/**
 * Declares a real test: skipped off CI when not root; under CI always run (failing first
 * thing when not root).
 */
export function realTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !IS_ROOT && !IN_CI,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      if (!IS_ROOT) throw new Error(`"${name}" needs root (CI=true forbids skipping it)`);
      await fn(t);
    },
  });
}

/** Runs `fn` with a fresh private containerd, always stopped afterwards. */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.start();
  try {
    return await fn(lab);
  } finally {
    await lab.stop();
  }
}

/** Result of running the CLI as a subprocess. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const mainPath = new URL("../../src/main.ts", import.meta.url).pathname;

/** Runs `crienrich ARGS` (src/main.ts under this Deno) with extra env; never throws. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", mainPath, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
