/**
 * What a command writes to: whole lines on stdout and one-line diagnostics on stderr.
 *
 * @module
 */
import type { LineWriter } from "../output/writer.ts";

/** Output channels of a command; tests pass their own. */
export interface CommandIO {
  /** Results (tables, NDJSON). */
  out: LineWriter;
  /** One-line notices on stderr (waiting, summaries, debug). */
  diagnostics: (line: string) => void;
}
