/**
 * Which finished runs to remove (docs/usage.md "Runs"): those older than
 * `--keep-runs`, then the oldest until the folders of the rest fit in
 * `--max-disk`. Pure: sizes and times come in, run ids go out.
 * @module
 */
export type FinishedRun = { id: string; started: number; bytes: number };

/**
 * The runs to remove from `oldestFirst` (finished runs, oldest start first),
 * whose folders hold `total` bytes together. It stops at the first run that
 * stays, so it reads only the runs it removes and one more: the agent feeds
 * it from its index of finished runs without reading the rest.
 */
export function oldestToPrune<Run extends FinishedRun>(oldestFirst: Iterable<Run>, total: number, now: number, keepMs: number, maxBytes: number): Run[] {
  const pruned: Run[] = [];
  for (const run of oldestFirst) {
    if (now - run.started <= keepMs && total <= maxBytes) break;
    pruned.push(run);
    total -= run.bytes;
  }
  return pruned;
}

