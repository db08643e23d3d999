/**
 * One writer of the state at a time (docs/development.md "LMDB"): real
 * `keg-agent users add` processes run in a loop while the agent on their
 * state dir is killed (SIGKILL or SIGTERM) and started again, over and over,
 * so they meet it serving (they ask it over its socket), starting (they wait
 * for its socket), and gone (they write the state themselves, under their
 * claim, which a starting agent waits out). Meanwhile a client takes and
 * gives back the user lock on whichever agent is up: the agent's own durable
 * commits. Two processes writing one LMDB environment broke commits before
 * (lost records, MDB_PROBLEM, a segfault; docs/reliability.md "Defects
 * found"): here every add must exit 0 and its token authenticate at the end,
 * and the user lock must be as its last answered change left it.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { agentCommand, startAgent, type Agent } from "../helpers/agent.ts";
import { tempDir } from "../helpers/tmp.ts";
import { Rng, size } from "./mode.ts";

const SECONDS = size(15, 120);
const ADDERS = 2;
setDefaultTimeout((SECONDS + 60) * 1000);

test(`keg-agent users add from ${ADDERS} processes while the agent is killed and started again for ${SECONDS} s: every add lands, and so does every lock change`, async () => {
  const seed = Number(process.env.KEG_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  using dir = tempDir("keg-second-writer-");
  const stateDir = join(dir.path, "state");
  let agent: Agent = await startAgent({ stateDir });
  const token = await agent.addUser("locker");
  const deadline = Date.now() + SECONDS * 1000;
  const errors: string[] = [];
  const counts = { restarts: 0, waited: 0, locks: 0, unlocks: 0 };

  const restarter = (async () => {
    while (Date.now() < deadline) {
      await Bun.sleep(200 + rng.int(1000));
      if (rng.next() < 0.5) await agent.kill();
      else {
        agent.proc.kill("SIGTERM");
        await agent.proc.exited;
      }
      // Down for a moment, so that some adds find no agent at all.
      await Bun.sleep(rng.int(300));
      agent = await startAgent({ stateDir });
      counts.restarts++;
    }
  })();

  const added: { name: string; token: string }[] = [];
  const adder = async (k: number) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const name = `added${k}-${n}`;
      const { code, stdout, stderr } = await agentCommand(["users", "add", name, "--state-dir", stateDir]);
      if (code === 0 && /^keg_\S{43}$/.test(stdout.trim())) added.push({ name, token: stdout.trim() });
      else errors.push(`users add ${name}: exit ${code}: ${stderr.trim().slice(0, 300)}`);
      if (stderr.includes("Waiting for the keg-agent starting")) counts.waited++;
    }
  };

  // The user lock's state as the agent last answered a change of it: true held, false free, undefined unknown (a change in flight when its agent went).
  let lockHeld: boolean | undefined = false;
  const locker = (async () => {
    while (Date.now() < deadline) {
      const change: "lock" | "unlock" = lockHeld === false ? "lock" : "unlock";
      const url = agent.url;
      let status = 0;
      try {
        const response = await fetch(`${url}/v1/${change}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ box: "lab" }) });
        status = response.status;
        await response.arrayBuffer();
      } catch {}
      if (status === 200) {
        lockHeld = change === "lock";
        counts[change === "lock" ? "locks" : "unlocks"]++;
      } else if (status === 0) {
        // The agent went mid-request: the change may or may not have landed; ask the next one.
        await Bun.sleep(20);
        lockHeld = undefined;
        try {
          const answer = await (await fetch(`${agent.url}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json();
          lockHeld = answer.user_lock !== null;
        } catch {}
      } else if (status === 409 && change === "unlock") lockHeld = false;
      else if (status !== 409) errors.push(`${change}: HTTP ${status}`);
      if (lockHeld === undefined) await Bun.sleep(20);
    }
  })();

  await Promise.all([restarter, locker, ...Array.from({ length: ADDERS }, (_, k) => adder(k))]);

  // Every token works on an agent started afresh, and the lock is as its last answered change left it.
  await agent.kill();
  await using last = await startAgent({ stateDir });
  const refused: string[] = [];
  for (const { name, token } of added) {
    const response = await fetch(`${last.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    const user = response.status === 200 ? (await response.json()).user : `HTTP ${response.status}`;
    if (user !== name) refused.push(`${name}: ${user}`);
  }
  const status = await (await fetch(`${last.url}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json();
  console.error(`reliability second writer (seed ${seed}): ${SECONDS} s, ${counts.restarts} restarts, ${added.length} users added by ${ADDERS} processes (${counts.waited} waited for a starting agent), ${counts.locks} locks and ${counts.unlocks} unlocks`);
  expect(errors).toEqual([]);
  expect(refused).toEqual([]);
  if (lockHeld !== undefined) expect(status.user_lock?.user ?? null).toBe(lockHeld ? "locker" : null);
  expect(counts.restarts).toBeGreaterThan(3);
  expect(added.length).toBeGreaterThan(10);
  expect(counts.locks).toBeGreaterThan(10);
});
