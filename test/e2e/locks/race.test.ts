/**
 * On the compiled binaries: 24 processes of 24 users
 * race for one box. Exactly one wins a `boxes lock`, 20 trials in a row, and
 * exactly one of 24 `python run`s runs (docs/locks.md).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ISO, lockBox, say, type LockUser } from "../../helpers/locks.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(90_000);

const RACERS = 24;
const TRIALS = 20;
const names = Array.from({ length: RACERS }, (_, i) => `user${String(i + 1).padStart(2, "0")}`);

/** The box plus 24 users, each with their own token and KEG_HOME. */
const raceBox = () => lockBox(names);

test("24 users lock at once: exactly one wins and 23 get 75 naming the winner, 20 trials in a row", async () => {
  await using box = await raceBox();
  const racers: LockUser[] = names.map((name) => box.users[name]!);
  const winners: string[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const results = await Promise.all(racers.map((user) => user.run(["boxes", "lock", "--note", `trial ${trial}`])));
    const won = results.flatMap((r, i) => (r.code === 0 ? [{ user: racers[i]!, r }] : []));
    expect(results.filter((r) => r.code === 75)).toHaveLength(RACERS - 1);
    expect(won).toHaveLength(1);
    const winner = won[0]!.user.name;
    const since = new RegExp(`^Box 'lab' locked by ${winner} at (${ISO})\\n$`).exec(won[0]!.r.stdout)?.[1];
    expect(since).toBeDefined();
    // Every loser names the one winner, with its time and note.
    for (const r of results) if (r.code === 75) expect(r).toEqual({ code: 75, stdout: "", stderr: say.alreadyLocked(winner, since!, `trial ${trial}`) });
    winners.push(winner);
    const unlocker = racers[(trial + 1) % RACERS]!;
    expect(await unlocker.run(["boxes", "unlock", ...(unlocker.name === winner ? [] : ["--force"])])).toEqual({ code: 0, stdout: say.unlocked(), stderr: "" });
  }
  expect(winners).toHaveLength(TRIALS);
});

test("24 users start a python run at once: exactly one runs, 23 get 75 naming it", async () => {
  await using box = await raceBox();
  const go = box.goFile("race");
  const racers: LockUser[] = names.map((name) => box.users[name]!);
  await using stack = new AsyncDisposableStack();
  const runs = racers.map((user) => stack.use(user.start(["python", "run", "hold.py", go])));
  const exited: (number | undefined)[] = runs.map(() => undefined);
  runs.forEach((run, i) => void run.proc.exited.then((code) => (exited[i] = code)));
  // The one that runs holds the box until GO exists; every other one must be refused meanwhile.
  await until(() => exited.filter((code) => code !== undefined).length >= RACERS - 1, {
    deadlineMs: 45_000,
    what: `${RACERS - 1} refusals (exited so far: ${JSON.stringify(exited)})`,
  });
  const runner = exited.findIndex((code) => code === undefined);
  expect(runner).toBeGreaterThanOrEqual(0);
  const winner = racers[runner]!.name;
  await runs[runner]!.out.waitFor(/^ready\n/);
  for (const [i, run] of runs.entries()) {
    if (i === runner) continue;
    expect(await run.result()).toEqual({ code: 75, stdout: "", stderr: say.busy(winner) });
  }
  box.go(go);
  expect(await runs[runner]!.result()).toEqual({ code: 0, stdout: "ready\n", stderr: "" });
  const history = JSON.parse((await racers[0]!.run(["boxes", "history", "--json"])).stdout) as { event: string; user: string }[];
  expect(history.filter((e) => e.event === "command-taken")).toEqual([expect.objectContaining({ user: winner })]);
});
