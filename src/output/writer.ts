/**
 * Whole-line output to stdout. Each line goes out in one synchronous write loop, so a
 * process killed between lines never leaves half a JSON object, and a reader closing the
 * pipe (`| head`) ends output quietly instead of throwing.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Writes lines to a file (stdout by default); tells whether the reader went away. */
export class LineWriter {
  readonly #file: { writeSync(p: Uint8Array): number };
  #closed = false;

  constructor(file: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#file = file;
  }

  /** True once a write failed with a broken pipe: stop producing output. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes `text` plus "\n". Returns false (and writes nothing more) once the pipe broke. */
  writeLine(text: string): boolean {
    if (this.#closed) return false;
    const bytes = encoder.encode(`${text}\n`);
    try {
      let written = 0;
      while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe) {
        this.#closed = true;
        return false;
      }
      throw error;
    }
    return true;
  }

  /**
   * Writes one JSON document as one NDJSON line. Callers convert bigints to numbers first
   * (JSON.stringify throws on them; a replacer would cost every value of every event).
   */
  writeJson(value: unknown): boolean {
    return this.writeLine(JSON.stringify(value));
  }
}
