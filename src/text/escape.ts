/**
 * Text from a box or from another user (notes, runnables, arguments, names,
 * error messages) never reaches a terminal raw (docs/security.md "Output"):
 * control characters, DEL, C1 controls and the bidirectional overrides are
 * shown as escapes, so `\e]0;TITLE\a` or `\e[2J` print as text. `--json`
 * output keeps the exact strings.
 * @module
 */

// C0 controls, DEL, C1 controls, and the bidi embedding/override/isolate marks.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e" };

export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (char) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
