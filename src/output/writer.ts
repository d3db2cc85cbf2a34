/**
 * Whole-line output to stdout. Lines go out in synchronous write loops of whole lines, so a
 * process killed between writes never leaves half a JSON object, and a reader closing the
 * pipe (`| head`) ends output quietly instead of throwing.
 *
 * While {@linkcode LineWriter.hold} is in effect (trace: during one perf buffer drain), lines
 * are gathered and written together by {@linkcode LineWriter.flush}: one write(2) per batch
 * instead of one per event.
 *
 * @module
 */

const encoder = new TextEncoder();
/** Gathered output is written once it reaches this many characters, even while held. */
const FLUSH_AT_CHARS = 64 * 1024;

/** Writes lines to a file (stdout by default); tells whether the reader went away. */
export class LineWriter {
  readonly #file: { writeSync(p: Uint8Array): number };
  #closed = false;
  #held = false;
  #pending: string[] = [];
  #pendingChars = 0;

  constructor(file: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#file = file;
  }

  /** True once a write failed with a broken pipe: stop producing output. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Gathers lines until {@linkcode flush}. */
  hold(): void {
    this.#held = true;
  }

  /** Writes the gathered lines and stops gathering. Returns false once the pipe broke. */
  flush(): boolean {
    this.#held = false;
    if (this.#pending.length === 0) return !this.#closed;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#pendingChars = 0;
    return this.#write(text);
  }

  /** Writes `text` plus "\n". Returns false (and writes nothing more) once the pipe broke. */
  writeLine(text: string): boolean {
    if (this.#closed) return false;
    if (!this.#held) return this.#write(`${text}\n`);
    this.#pending.push(`${text}\n`);
    this.#pendingChars += text.length + 1;
    if (this.#pendingChars >= FLUSH_AT_CHARS) {
      const ok = this.flush();
      this.#held = true;
      return ok;
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

  #write(text: string): boolean {
    if (this.#closed) return false;
    const bytes = encoder.encode(text);
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
}
