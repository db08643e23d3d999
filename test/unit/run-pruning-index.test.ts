/**
 * Pruning from the index of finished runs (docs/usage.md "Runs"): a prune
 * reads only the oldest runs it removes and one more, and the index is
 * checked against the run records at every start (a crash may leave it
 * behind them, an upgrade finds none).
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configFromArgs, serveArgs } from "../../src/agent/cli/serve.ts";
import { oldestToPrune, type FinishedRun } from "../../src/agent/run-pruning.ts";
import { finishedKey, RunManager, type RunRecord } from "../../src/agent/runs.ts";
import { openState, type State } from "../../src/agent/state.ts";
import { LockStore } from "../../src/lock/store.ts";
import { parseWords } from "../../src/args.ts";
import { tempDir } from "../helpers/tmp.ts";

const DAY = 86_400_000;

test("a prune reads the runs it removes and one more, not the rest", () => {
  const now = 1000 * DAY;
  let read = 0;
  function* oldestFirst(): Generator<FinishedRun> {
    for (let i = 0; i < 10_000; i++) {
      read++;
      // Two runs of 9 days ago, then young ones.
      yield { id: `r${i}`, started: now - (i < 2 ? 9 : 1) * DAY, bytes: 10 };
    }
  }
  expect(oldestToPrune(oldestFirst(), 100_000, now, 7 * DAY, 1e9).map((run) => run.id)).toEqual(["r0", "r1"]);
  expect(read).toBe(3);
  // Over the cap: the oldest go until the rest fits, then one more is read.
  read = 0;
  expect(oldestToPrune(oldestFirst(), 100_000, now, 7 * DAY, 100_000 - 45).map((run) => run.id)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
  expect(read).toBe(6);
});

const open: { state: State }[] = [];
afterEach(async () => {
  for (const { state } of open.splice(0)) await state.close();
});

/** An agent's run manager on `dir`, started as serve starts it (recover() checks the index and prunes). */
function manager(dir: string, extra: string[] = []) {
  const config = configFromArgs(parseWords(["--listen", "127.0.0.1:0", "--state-dir", dir, "--name", "lab", ...extra], serveArgs).args);
  const state = openState(dir);
  open.push({ state });
  const runs = new RunManager(state, config, new LockStore(state, config.commandLockTtlSeconds * 1000));
  return { state, runs };
}

/** A finished run of `daysAgo` days with `bytes` in its folder, as a previous life left it. */
function leftRun(state: State, dir: string, daysAgo: number, bytes: number): RunRecord {
  const id = crypto.randomUUID();
  const record: RunRecord = {
    id,
    user: "alice",
    runnable: "job.py",
    command: "python",
    started: new Date(Date.now() - daysAgo * DAY).toISOString(),
    status: "exited",
    exit_code: 0,
    signal: null,
    detached: false,
    warm: false,
    generation: 1,
    forced: false,
    box: "lab",
  };
  mkdirSync(join(dir, "runs", id, "work"), { recursive: true });
  writeFileSync(join(dir, "runs", id, "work", "data.bin"), new Uint8Array(bytes));
  state.runs.putSync(id, record);
  return record;
}

const indexed = (state: State) => [...state.finished.getRange()].map(({ key, value }) => [key, value]);

test("the index is rebuilt from the records at start, pruned from, and kept consistent across restarts", async () => {
  using dir = tempDir("keg-run-index-");
  const first = manager(dir.path);
  // Records without index entries: an agent from before the index, or one killed before it wrote them.
  const old = leftRun(first.state, dir.path, 9, 100);
  const kept = [leftRun(first.state, dir.path, 3, 200), leftRun(first.state, dir.path, 1, 300), leftRun(first.state, dir.path, 2, 400)];
  first.runs.recover();
  const byStart = [...kept].sort((a, b) => a.started.localeCompare(b.started));
  // The 9-day-old run is pruned: record, folder and entry.
  expect(first.state.runs.get(old.id)).toBeUndefined();
  expect(existsSync(join(dir.path, "runs", old.id))).toBe(false);
  expect(indexed(first.state)).toEqual(byStart.map((run) => [finishedKey(run), { [kept[0]!.id]: 200, [kept[1]!.id]: 300, [kept[2]!.id]: 400 }[run.id]!]));
  // ps: every run, oldest start first.
  expect([...first.runs.list()].map((run) => run.id)).toEqual(byStart.map((run) => run.id));

  // A stray entry (its record is gone) and a lost one (a crash before it was written).
  first.state.root.transactionSync(() => {
    first.state.finished.putSync(`${new Date().toISOString()} ${crypto.randomUUID()}`, 5);
    first.state.finished.removeSync(finishedKey(kept[1]!));
  });
  await first.state.close();
  open.length = 0;

  // The next start mends both; a --max-disk of 0.00000066 GiB (~709 bytes) then keeps the newest runs that fit.
  const second = manager(dir.path, ["--max-disk", "0.00000066"]);
  second.runs.recover();
  expect(indexed(second.state)).toEqual([
    [finishedKey(kept[2]!), 400],
    [finishedKey(kept[1]!), 300],
  ]);
  expect(readdirSync(join(dir.path, "runs")).sort()).toEqual([kept[1]!.id, kept[2]!.id].sort());
  expect([...second.runs.list()].map((run) => run.id)).toEqual([kept[2]!.id, kept[1]!.id]);
});
