/** src/agent/refusal-limit.ts: more than 20 different refused tokens in 10 s from one address → held back for 10 s (docs/security.md "Limits"). */
import { expect, test } from "bun:test";
import { HOLD_MS, RefusalLimit, REFUSALS_ALLOWED, WINDOW_MS } from "../../src/agent/refusal-limit.ts";

test("the 21st different refused token within 10 s holds the address back; others are not touched", () => {
  const limit = new RefusalLimit();
  const t0 = 1_000_000;
  for (let i = 0; i < REFUSALS_ALLOWED; i++) expect(limit.refused("10.0.0.1", `t${i}`, t0 + i)).toBe(false);
  expect(limit.retryAfter("10.0.0.1", t0 + 20)).toBe(0);
  expect(limit.refused("10.0.0.1", "t-last", t0 + 21)).toBe(true);
  expect(limit.retryAfter("10.0.0.1", t0 + 22)).toBe(HOLD_MS / 1000);
  expect(limit.retryAfter("10.0.0.2", t0 + 22)).toBe(0);
  expect(limit.retryAfter("10.0.0.1", t0 + 21 + HOLD_MS)).toBe(0);
});

test("one wrong token retried is counted once; refusals older than the window are forgotten", () => {
  const limit = new RefusalLimit();
  for (let i = 0; i < 100; i++) expect(limit.refused("a", "same", i)).toBe(false);
  for (let i = 0; i < REFUSALS_ALLOWED; i++) limit.refused("b", `old${i}`, 0);
  expect(limit.refused("b", "new", WINDOW_MS + 1)).toBe(false);
  expect(limit.retryAfter("b", WINDOW_MS + 2)).toBe(0);
});
