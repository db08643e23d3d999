/**
 * The operator's log on the agent's stderr (the journal under systemd): one
 * line per event, `key=value` text or JSON (`serve --log-format`). Callers
 * pass only what an operator may see: ids, users, names, codes, addresses;
 * never a token and never a script's output (docs/usage.md "Operating a box").
 * Silent until `configureAgentLog` (serve does it), so in-process tests and
 * the other agent commands print nothing.
 * @module
 */
import { KegError } from "../errors.ts";

export type LogFields = Record<string, string | number | boolean | null | undefined>;

type Format = "text" | "json" | "off";

let format: Format = "off";
let write: (line: string) => void = (line) => void process.stderr.write(line);

export function configureAgentLog(chosen: "text" | "json", sink?: (line: string) => void): void {
  format = chosen;
  if (sink) write = sink;
}

/** A value as text wants it: bare when it is one plain word, else JSON-quoted. */
const textValue = (value: string | number | boolean | null) => {
  const text = String(value);
  return /^[\w@%+=:,./-]+$/.test(text) ? text : JSON.stringify(text);
};

export function formatLogLine(chosen: "text" | "json", event: string, fields: LogFields, time = new Date()): string {
  const defined = Object.entries(fields).filter((entry): entry is [string, string | number | boolean | null] => entry[1] !== undefined);
  const all: [string, string | number | boolean | null][] = [["time", time.toISOString()], ["event", event], ...defined];
  if (chosen === "json") return `${JSON.stringify(Object.fromEntries(all))}\n`;
  return `${all.map(([key, value]) => `${key}=${textValue(value)}`).join(" ")}\n`;
}

/** Logs one event: `logEvent("run-ended", { id, user, exit_code: 0 })`. */
export function logEvent(event: string, fields: LogFields = {}): void {
  if (format === "off") return;
  write(formatLogLine(format, event, fields));
}

/** An error with its cause chain, as one field. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let at: unknown = error; at && parts.length < 5; at = (at as { cause?: unknown }).cause) {
    // keg's own errors are sentences already; others keep their kind (TypeError: …).
    const plain = at instanceof KegError || (at instanceof Error && at.name === "Error");
    parts.push(at instanceof Error ? `${plain ? "" : `${at.name}: `}${at.message}` : String(at));
    if (!(at instanceof Error)) break;
  }
  return parts.join(" <- ") || String(error);
}
