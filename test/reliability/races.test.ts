/**
 * Lock races (docs/reliability.md "Lock races", docs/locks.md): 24 users race
 * for `boxes lock` and for a run, over HTTP and as real keg processes. Exactly
 * one winner each trial, and no lock left behind.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { lockBox, type LockBox } from "../helpers/locks.ts";
import { until } from "../helpers/until.ts";
import { Frame } from "../../src/wire/frames.ts";
import { allFrames, api } from "./http.ts";
import { LONG, size } from "./mode.ts";

setDefaultTimeout(LONG ? 1_800_000 : 120_000);

const RACERS = 24;
const TRIALS = size(10, 100);
const CLI_TRIALS = size(2, 100);
const names = Array.from({ length: RACERS }, (_, i) => `racer${String(i + 1).padStart(2, "0")}`);

async function expectNothingHeld(box: LockBox) {
  const status = await api(box.agent.url, box.users[names[0]!]!.token).call("GET", "/v1/status");
  expect(status.body).toMatchObject({ user_lock: null, command_lock: null });
}

describe("lock races", () => {
  let box: LockBox;
  beforeAll(async () => {
    box = await lockBox(names);
  });
  afterAll(() => box[Symbol.asyncDispose]());

  test(`24 users POST /v1/lock at once: exactly one 200 and 23 409s, ${TRIALS} trials`, async () => {
    const racers = names.map((name) => api(box.agent.url, box.users[name]!.token));
    for (let trial = 0; trial < TRIALS; trial++) {
      const answers = await Promise.all(racers.map((r) => r.call("POST", "/v1/lock", { box: "lab", note: `trial ${trial}` })));
      const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      expect({ trial, won: won.length, refused: answers.filter((a) => a.status === 409 && a.body.error.code === "locked").length }).toEqual({ trial, won: 1, refused: RACERS - 1 });
      expect((await racers[won[0]!]!.call("POST", "/v1/unlock", { box: "lab" })).status).toBe(200);
    }
    await expectNothingHeld(box);
    console.error(`reliability races: ${TRIALS} HTTP lock trials of ${RACERS} racers`);
  });

  test(`24 users POST /v1/runs at once: exactly one run starts, 23 are busy, its cycle releases the lock, ${TRIALS} trials`, async () => {
    const racers = names.map((name) => api(box.agent.url, box.users[name]!.token));
    for (let trial = 0; trial < TRIALS; trial++) {
      const go = box.goFile(`http-${trial}`);
      const answers = await Promise.all(racers.map((r) => r.run(["sh", "-c", `while [ ! -e '${go}' ]; do sleep 0.01; done; exit 4`])));
      const streams = answers.filter((a) => a.headers.get("content-type")?.includes("frames"));
      const busy = await Promise.all(answers.filter((a) => a.status === 409).map((a) => a.json() as Promise<{ error: { code: string } }>));
      expect({ trial, streams: streams.length, busy: busy.filter((b) => b.error.code === "busy").length }).toEqual({ trial, streams: 1, busy: RACERS - 1 });
      box.go(go);
      const frames = await allFrames(streams[0]!);
      expect(frames.find((f) => f.type === Frame.exit)?.payload).toMatchObject({ code: 4 });
      expect(frames.at(-1)).toEqual({ type: Frame.end, payload: { released: true } });
    }
    await expectNothingHeld(box);
    console.error(`reliability races: ${TRIALS} HTTP run trials of ${RACERS} racers`);
  });

  test(`24 keg processes start a python run at once: exactly one runs, 23 exit 75, ${CLI_TRIALS} trials`, async () => {
    for (let trial = 0; trial < CLI_TRIALS; trial++) {
      const go = box.goFile(`cli-${trial}`);
      const runs = names.map((name) => box.users[name]!.start(["python", "run", "hold.py", go, "6"]));
      const codes: (number | undefined)[] = runs.map(() => undefined);
      runs.forEach((run, i) => void run.proc.exited.then((code) => (codes[i] = code)));
      await until(() => codes.filter((c) => c === 75).length === RACERS - 1, { deadlineMs: 60_000, what: `${RACERS - 1} refusals (${JSON.stringify(codes)})` });
      const winner = codes.findIndex((c) => c === undefined);
      expect(winner).toBeGreaterThanOrEqual(0);
      await runs[winner]!.out.waitFor(/^ready\n/);
      box.go(go);
      expect((await runs[winner]!.result()).code).toBe(6);
      expect(existsSync(go)).toBe(true);
    }
    await expectNothingHeld(box);
    console.error(`reliability races: ${CLI_TRIALS} CLI run trials of ${RACERS} racers`);
  });
});
