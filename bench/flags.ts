/**
 * Command-line helpers the benchmarks share: `--help` and positive integer flags. A bad
 * value is one stderr line and exit code 2, as in crienrich itself.
 *
 * @module
 */

/** Prints `help` and exits 0 when `asked`. */
export function exitWithHelpIf(asked: boolean, help: string): void {
  if (!asked) return;
  // deno-lint-ignore no-console
  console.log(help);
  Deno.exit(0);
}

/** `text` as a positive integer; else one line on stderr naming `flag`, and exit code 2. */
export function positiveFlag(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n <= 0) {
    // deno-lint-ignore no-console
    console.error(`Invalid ${flag} "${text}": expected a positive integer`);
    Deno.exit(2);
  }
  return n;
}
