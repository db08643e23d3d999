/**
 * Soak (docs/reliability.md "Soak"): 8 keg users contend for one box for a
 * while (runs, --wait runs, detached runs, kills, reattaches, user locks, and
 * `keg-agent users add` beside the serving agent). No lost exit code, no
 * lock held by nobody at the end, the agent's file descriptors and RSS flat
 * (first against last quartile), and every printed token authenticates.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import { agentCommand } from "../helpers/agent.ts";
import { lockBox, type LockUser } from "../helpers/locks.ts";
import { rssBytes } from "../helpers/run.ts";
import { until } from "../helpers/until.ts";
import { api } from "./http.ts";
import { Rng, seeded, size } from "./mode.ts";

/** KEG_SOAK_SECONDS overrides both sizes (a reduced long run; docs/reliability.md says when one was). */
const SECONDS = Number(process.env.KEG_SOAK_SECONDS) || size(60, 1800);
setDefaultTimeout((SECONDS + 120) * 1000);

const CLIENTS = Array.from({ length: 8 }, (_, i) => `soak${i + 1}`);
const JOB = "import sys, time\nprint('job', sys.argv[1], flush=True)\ntime.sleep(float(sys.argv[2]))\nsys.exit(int(sys.argv[1]))\n";

type Detached = { id: string; code: number; killed: boolean };
type Tally = { runs: number; refused: number; detached: number; reattached: number; kills: number; locks: number; tokens: number; lost: string[] };

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const quartiles = (values: number[]) => {
  const q = Math.max(1, Math.floor(values.length / 4));
  return { first: mean(values.slice(0, q)), last: mean(values.slice(-q)) };
};

async function client(rng: Rng, user: LockUser, deadline: number, detached: Detached[], tally: Tally, addToken: () => Promise<void>) {
  while (Date.now() < deadline) {
    const code = 2 + rng.int(60);
    const action = rng.int(12);
    const seconds = (rng.int(20) / 100).toFixed(2);
    if (action < 4) {
      const wait = action < 2 ? ["--wait", "0"] : [];
      const result = await user.run(["python", "run", "job.py", String(code), seconds, ...wait]);
      tally.runs++;
      if (result.code === 75 && !wait.length) tally.refused++;
      else if (result.code !== code || result.stdout !== `job ${code}\n`) tally.lost.push(`${user.name} run: wanted ${code}, got ${JSON.stringify(result)}`);
    } else if (action < 6) {
      const result = await user.run(["python", "run", "job.py", String(code), String(Number(seconds) * 5), "-d", "--wait", "0"]);
      if (result.code === 0) detached.push({ id: result.stdout.trim(), code, killed: false });
      else tally.lost.push(`${user.name} detach: ${JSON.stringify(result)}`);
      tally.detached++;
    } else if (action < 8 && detached.length) {
      const run = rng.pick(detached);
      const result = await user.run(["python", "--reattach", run.id]);
      tally.reattached++;
      // A killed run ends with the signal's code or its own, whichever came first.
      if (!run.killed && result.code !== run.code) tally.lost.push(`${user.name} reattach ${run.id}: wanted ${run.code}, got ${JSON.stringify(result)}`);
    } else if (action < 9 && detached.length) {
      const run = rng.pick(detached);
      run.killed = true;
      await user.run(["python", "--kill", run.id]);
      tally.kills++;
    } else if (action < 11) {
      const locked = await user.run(["boxes", "lock", "--note", "soak", "--wait", "5"]);
      if (locked.code === 0) {
        await user.run(["exec", "--", "true"]);
        await user.run(["boxes", "unlock"]);
      }
      tally.locks++;
    } else await addToken();
  }
}

type PsRow = { id: string; status: string; exit_code: number | null; started?: string };

/**
 * Runs that went wrong (stayed `running`, or are missing from `ps`): what
 * LMDB and their folders hold and what the agent logged of them; the
 * agent's whole log and the last `ps` go to a folder whose path is printed
 * (docs/reliability.md "Figures"): a failure to go on from.
 */
function describeRuns(ids: string[], list: PsRow[], stateDir: string, log: string): string {
  const db = open({ path: join(stateDir, "db"), readOnly: true, maxDbs: 8, compression: false });
  const records = db.openDB<any, string>({ name: "runs", encoding: "json" });
  const finished = db.openDB<number, string>({ name: "runs-finished", encoding: "json" });
  // Outside the test run's temporary folder, which goes when the run ends.
  const dump = mkdtempSync(join(process.env.KEG_SOAK_DUMP ?? "/tmp", "keg-soak-failure-"));
  writeFileSync(join(dump, "agent.log"), log);
  writeFileSync(join(dump, "ps.json"), JSON.stringify(list, null, 1));
  const folders = ids.map((id) => {
    const dir = join(stateDir, "runs", id);
    const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").slice(0, 200) : "(none)");
    const pid = Number(JSON.parse(read("pid") === "(none)" ? "{}" : read("pid")).pid);
    const stored = records.get(id);
    const started = list.find((r) => r.id === id)?.started ?? stored?.started;
    const indexed = started === undefined ? undefined : finished.get(`${started} ${id}`);
    return `${id}: stored ${JSON.stringify(stored)}; index ${indexed ?? "(none)"}; folder ${existsSync(dir) ? readdirSync(dir).join(",") : "(gone)"}; pid ${read("pid")} ${pid && existsSync(`/proc/${pid}`) ? "alive" : "not alive"}; exit ${read("exit.json")}`;
  });
  void db.close();
  const logged = log.split("\n").filter((line) => ids.some((id) => line.includes(id)));
  return [...folders, "the agent's log of them:", ...(logged.length ? logged : ["(nothing)"]), `the agent's log and the last ps: ${dump}`].join("\n");
}

test(`${CLIENTS.length} clients contend for one box for ${SECONDS} s: no lost exit code, nothing held at the end, the agent flat`, async () => {
  const rng = seeded("soak");
  await using box = await lockBox(CLIENTS);
  await Bun.write(box.dir.join("job.py"), JOB);
  const detached: Detached[] = [];
  const tally: Tally = { runs: 0, refused: 0, detached: 0, reattached: 0, kills: 0, locks: 0, tokens: 0, lost: [] };
  const badTokens: string[] = [];
  const addToken = async () => {
    const name = `added${++tally.tokens}`;
    const { stdout, code } = await agentCommand(["users", "add", name, "--state-dir", box.agent.stateDir]);
    const token = stdout.trim();
    const whoami = await api(box.agent.url, token).call("GET", "/v1/whoami");
    if (code !== 0 || whoami.status !== 200 || whoami.body.user !== name) badTokens.push(`${name}: ${code} ${whoami.status}`);
  };
  const samples = { fds: [] as number[], rss: [] as number[] };
  const sampler = setInterval(() => {
    samples.fds.push(readdirSync(`/proc/${box.agent.pid}/fd`).length);
    samples.rss.push(rssBytes(box.agent.pid));
  }, 1000);
  const deadline = Date.now() + SECONDS * 1000;
  try {
    await Promise.all(CLIENTS.map((name, i) => client(new Rng(rng.seed + i + 1), box.users[name]!, deadline, detached, tally, addToken)));
  } finally {
    clearInterval(sampler);
  }
  const first = box.users[CLIENTS[0]!]!;
  // Every detached run ends with its exit code recorded (its own, or the kill's).
  let list: PsRow[] = [];
  const runs = await until(
    async () => {
      list = JSON.parse((await first.run(["python", "ps", "--json"])).stdout);
      return list.every((r) => r.status !== "running") ? list : undefined;
    },
    { deadlineMs: 30_000, what: "every run to end" },
  ).catch((error) => {
    const stayed = list.filter((r) => r.status === "running");
    throw new Error(`${(error as Error).message}: ${JSON.stringify(stayed)}\n${describeRuns(stayed.map((r) => r.id), list, box.agent.stateDir, box.agent.output())}`);
  });
  const missing: string[] = [];
  for (const run of detached) {
    const row = runs.find((r) => r.id === run.id);
    if (!row) missing.push(run.id);
    if (!row || (!run.killed && row.exit_code !== run.code)) tally.lost.push(`detached ${run.id}: wanted ${run.code}, got ${JSON.stringify(row)}`);
  }
  if (missing.length) console.error(`reliability soak: detached runs missing from ps:\n${describeRuns(missing, runs, box.agent.stateDir, box.agent.output())}`);
  const status = await api(box.agent.url, first.token).call("GET", "/v1/status");
  const fds = quartiles(samples.fds);
  const rss = quartiles(samples.rss);
  console.error(
    `reliability soak: ${SECONDS} s, ${CLIENTS.length} clients, ${JSON.stringify({ ...tally, lost: tally.lost.length })}, agent fds ${fds.first.toFixed(1)} → ${fds.last.toFixed(1)}, RSS ${(rss.first / 1048576).toFixed(1)} → ${(rss.last / 1048576).toFixed(1)} MiB`,
  );
  expect(tally.lost).toEqual([]);
  expect(badTokens).toEqual([]);
  expect(status.body).toMatchObject({ user_lock: null, command_lock: null });
  expect(fds.last).toBeLessThanOrEqual(fds.first + 8);
  expect(rss.last).toBeLessThanOrEqual(rss.first * 1.25 + 20 * 1048576);
});
