/**
 * Column declarations and plain aligned tables, kubectl/crictl style (upper-case headers,
 * columns separated by at least three spaces, no borders). Every cell is escaped with
 * {@linkcode escapeControl}, so untrusted values cannot break the layout.
 *
 * A table library was considered; the design card limits dependencies to gRPC and the
 * standard library, which has no table formatter, and this layout needs ~20 lines.
 *
 * @module
 */
import { escapeControl } from "./escape.ts";

/** One output column, declared once and used by the table and by `--help`. */
export interface Column<Row> {
  /** Header, upper case. */
  header: string;
  /** What the column shows, for `--help`. */
  description: string;
  /** The cell text of a row (escaped by the table). */
  value: (row: Row) => string;
  /** Longest cell, in characters; longer text is cut with "…". */
  maxWidth?: number;
  /** Fixed width for streamed tables ({@linkcode renderStreamRow}); default 12. */
  width?: number;
}

function fit(text: string, maxWidth: number | undefined): string {
  const escaped = escapeControl(text);
  return maxWidth !== undefined && escaped.length > maxWidth
    ? `${escaped.slice(0, maxWidth - 1)}…`
    : escaped;
}

/** Renders rows under headers; returns the lines without trailing newlines. */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const cells = rows.map((row) => columns.map((c) => fit(c.value(row), c.maxWidth)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((line) => line[i]!.length))
  );
  const line = (values: string[]) =>
    values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!))).join("   ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** `--help` text listing columns: "  HEADER  description". */
export function describeColumns<Row>(columns: readonly Column<Row>[]): string {
  const width = Math.max(...columns.map((c) => c.header.length));
  return columns.map((c) => `  ${c.header.padEnd(width)}  ${c.description}`).join("\n");
}

/**
 * One row of a streamed table (rows printed as they come, so widths cannot depend on later
 * rows): each cell but the last is cut with "…" or padded to the column's fixed `width`.
 * Pass the headers as a row of strings to get the header line.
 */
export function renderStreamRow<Row>(columns: readonly Column<Row>[], row: Row | "header"): string {
  return columns.map((column, i) => {
    const text = row === "header" ? column.header : fit(column.value(row), undefined);
    if (i === columns.length - 1) return text;
    const width = column.width ?? 12;
    return (text.length > width ? `${text.slice(0, width - 1)}…` : text).padEnd(width);
  }).join(" ").trimEnd();
}
