/**
 * Escaping of untrusted text (label values, process arguments, comm) for human output.
 *
 * Containers choose these bytes: a label value or argv holding ESC sequences, CR or NUL
 * could rewrite the operator's terminal or fake extra lines. JSON output needs no extra
 * step (JSON.stringify escapes control characters); table output goes through
 * {@linkcode escapeControl}.
 *
 * @module
 */

/**
 * Replaces C0 and C1 control characters, DEL, the line and paragraph separators and the
 * Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069,
 * which can make a value display reversed, "Trojan Source") with visible escapes: `\n`,
 * `\t`, `\r`, `\\` for a backslash, `\xHH` / `\u{HHHH}` for the rest; everything else is
 * kept.
 * @example escapeControl("a\x1b[2Jb") // "a\\x1b[2Jb"
 */
export function escapeControl(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\\\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      switch (c) {
        case "\\":
          return "\\\\";
        case "\n":
          return "\\n";
        case "\t":
          return "\\t";
        case "\r":
          return "\\r";
      }
      const code = c.codePointAt(0)!;
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u{${code.toString(16)}}`;
    },
  );
}
