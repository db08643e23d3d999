/**
 * Which finished runs to remove (docs/usage.md "Runs"): those older than
 * `--keep-runs`, then the oldest until the folders of the rest fit in
 * `--max-disk`. Pure: sizes and times come in, run ids go out.
 * @module
 */
export type FinishedRun = { id: string; started: number; bytes: number };

export function runsToPrune(runs: FinishedRun[], now: number, keepMs: number, maxBytes: number): string[] {
  const oldestFirst = [...runs].sort((a, b) => a.started - b.started);
  const pruned: string[] = [];
  let total = oldestFirst.reduce((sum, run) => sum + run.bytes, 0);
  for (const run of oldestFirst) {
    if (now - run.started <= keepMs && total <= maxBytes) break;
    pruned.push(run.id);
    total -= run.bytes;
  }
  return pruned;
}
