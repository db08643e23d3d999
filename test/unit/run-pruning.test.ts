/** src/agent/run-pruning.ts: finished runs older than --keep-runs go, then the oldest beyond --max-disk (docs/usage.md "Runs"). */
import { expect, test } from "bun:test";
import { oldestToPrune, type FinishedRun } from "../../src/agent/run-pruning.ts";

const DAY = 86_400_000;
const now = 100 * DAY;
const run = (id: string, daysAgo: number, bytes: number) => ({ id, started: now - daysAgo * DAY, bytes });

/** The ids `oldestToPrune` removes from `runs` (any order here: the agent's index gives them oldest first). */
function runsToPrune(runs: FinishedRun[], keepMs: number, maxBytes: number): string[] {
  const oldestFirst = [...runs].sort((a, b) => a.started - b.started);
  const total = runs.reduce((sum, { bytes }) => sum + bytes, 0);
  return oldestToPrune(oldestFirst, total, now, keepMs, maxBytes).map(({ id }) => id);
}

test("old runs go whatever their size; young ones stay while they fit", () => {
  expect(runsToPrune([run("new", 1, 10), run("old", 8, 1), run("older", 9, 1)], 7 * DAY, 100)).toEqual(["older", "old"]);
});

test("over the disk cap, the oldest go first until the rest fits", () => {
  const runs = [run("c", 1, 40), run("a", 3, 40), run("b", 2, 40)];
  expect(runsToPrune(runs, 7 * DAY, 80)).toEqual(["a"]);
  expect(runsToPrune(runs, 7 * DAY, 39)).toEqual(["a", "b", "c"]);
  expect(runsToPrune(runs, 7 * DAY, 120)).toEqual([]);
});
