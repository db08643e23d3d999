/** src/text/escape.ts: text from a box or another user is shown with its control characters escaped (docs/security.md "Output"). */
import { expect, test } from "bun:test";
import { escapeControl } from "../../src/text/escape.ts";

test("escape sequences, bells, newlines, DEL, C1 controls and bidi overrides become visible escapes", () => {
  const cases: [string, string][] = [
    ["\x1b]0;TITLE\x07\x1b[2J", "\\e]0;TITLE\\u0007\\e[2J"],
    ["a\nb\rc\td", "a\\nb\\rc\\td"],
    ["\x00\x7f\x9b", "\\u0000\\u007f\\u009b"],
    ["evil\u202etxt.py", "evil\\u202etxt.py"],
  ];
  for (const [raw, shown] of cases) expect(escapeControl(raw)).toBe(shown);
});

test("ordinary text, Unicode letters and punctuation pass unchanged", () => {
  for (const text of ["Box 'lab' is busy — 'python' in progress by alice.", "Grüße, 測定 ✓", "flash (v2) [x]"]) expect(escapeControl(text)).toBe(text);
});
