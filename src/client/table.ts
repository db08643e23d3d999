/** A plain text table with optional colour per column; every cell's text is made safe for a terminal. @module */
import { escapeControl } from "../text/escape.ts";

export type Column = { title: string; color?: (text: string) => string };

const visibleWidth = (text: string) => text.length;

/** Longer cells are cut (with "…"): one user's 100,000-character argument must not make the table unreadable for all. `--json` has them whole. */
const MAX_CELL = 80;
const fit = (text: string) => (text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text);

export function renderTable(columns: Column[], cellText: string[][]): string {
  const rows = cellText.map((row) => row.map((cell) => fit(escapeControl(cell))));
  const widths = columns.map((col, i) => Math.max(visibleWidth(col.title), ...rows.map((row) => visibleWidth(row[i] ?? ""))));
  const line = (cells: string[], colored: boolean) =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]!);
        const color = columns[i]!.color;
        return colored && color && cell ? color(cell) + padded.slice(cell.length) : padded;
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.title), false), ...rows.map((row) => line(row, true))].join("\n") + "\n";
}

/** ANSI colours, only for a terminal and never with NO_COLOR. */
export function colors(stream: { isTTY?: boolean } = process.stdout, env = process.env) {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== "dumb";
  const wrap = (code: number) => (text: string) => (on ? `\x1b[${code}m${text}\x1b[39m` : text);
  return { magenta: wrap(35), yellow: wrap(33) };
}
