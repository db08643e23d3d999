/**
 * A second process writing the state beside the agent (docs/development.md
 * "LMDB"): `keg-agent users add` with no agent answering on its socket (an
 * agent starting, or under Deno) while another process commits. With
 * lmdb-js's default overlappingSync the two broke each other's commits
 * (MDB_PROBLEM "mdb_page_touch no parent", lost records, a segfault); the
 * soak found it as runs left `running`. Here the test process commits as the
 * agent does (openState, the same record and index writes, as fast as it
 * can) while real `keg-agent users add` processes run: every commit and
 * every add must land.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { openState } from "../../src/agent/state.ts";
import { agentCommand } from "../helpers/agent.ts";
import { tempDir } from "../helpers/tmp.ts";
import { size } from "./mode.ts";

/** The old fault showed in about one short run in three here, and in every run of 45 s. */
const SECONDS = size(15, 120);
const ADDERS = 2;
setDefaultTimeout((SECONDS + 60) * 1000);

test(`keg-agent users add beside an agent committing run records for ${SECONDS} s: every commit and every add lands`, async () => {
  using dir = tempDir("keg-second-writer-");
  const stateDir = join(dir.path, "state");
  const state = openState(stateDir);
  const deadline = Date.now() + SECONDS * 1000;
  const errors: string[] = [];
  let commits = 0;
  const writer = (async () => {
    // Records of about a page: each commit touches more pages, and the old fault came sooner.
    const pad = "x".repeat(3000);
    while (Date.now() < deadline) {
      const id = `run${commits}`;
      try {
        // A detached run's first record, then its final record with its index entry (src/agent/runs.ts).
        state.runs.putSync(id, { id, status: "running", pad });
        state.root.transactionSync(() => {
          state.runs.putSync(id, { id, status: "exited", pad });
          state.finished.putSync(`${new Date().toISOString()} ${id}`, pad.length);
        });
        commits++;
      } catch (error) {
        errors.push(`commit ${id}: ${(error as Error).message}`);
        if (errors.length > 20) break;
      }
      // Let the adders' processes be spawned and read.
      if (commits % 50 === 0) await Bun.sleep(1);
    }
  })();
  const added: string[] = [];
  const adder = async (k: number) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const name = `added${k}-${n}`;
      const { code, stdout, stderr } = await agentCommand(["users", "add", name, "--state-dir", stateDir]);
      if (code === 0 && /^\S{20,}$/.test(stdout.trim())) added.push(name);
      else errors.push(`users add ${name}: exit ${code}: ${stderr.trim().slice(0, 300)}`);
    }
  };
  await Promise.all([writer, ...Array.from({ length: ADDERS }, (_, k) => adder(k))]);

  state.refresh();
  const lost: string[] = [];
  for (let n = 0; n < commits; n++) if (state.runs.get(`run${n}`)?.status !== "exited") lost.push(`run${n}`);
  const users = new Set([...state.tokens.getRange()].map(({ value }) => value.user));
  const missing = added.filter((name) => !users.has(name));
  await state.close();
  console.error(`reliability second writer: ${SECONDS} s, ${commits} commits, ${added.length} users added by ${ADDERS} processes`);
  expect(errors).toEqual([]);
  expect(lost).toEqual([]);
  expect(missing).toEqual([]);
  expect(commits).toBeGreaterThan(100);
  expect(added.length).toBeGreaterThan(4);
});
