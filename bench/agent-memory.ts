/**
 * The agent's memory against the run records it keeps (docs/reliability.md
 * "Soak"): a compiled agent on 127.0.0.1 with a temp state dir takes
 * thousands of short runs through the HTTP API (attached and detached, one
 * client at a time), a `keg-agent users add` beside it every --users-every
 * runs and a `GET /v1/runs` (ps) every --ps-every runs, while VmRSS, RssAnon
 * and RssFile of the agent are read from /proc/PID/status every second.
 * Build first (`bun build/compile.ts`), then:
 *   bun bench/agent-memory.ts [--runs 3000] [--users-every 10] [--ps-every 500] [--state-dir DIR]
 * With --state-dir an existing dir is served again (its records kept): the
 * memory of an agent that starts with thousands of records.
 * @module
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packUpload } from "../src/client/pack.ts";
import { encodeRunBody, type RunSpec } from "../src/wire/api.ts";
import { decodeJson, Frame, FrameDecoder } from "../src/wire/frames.ts";
import { cleanUp, kegAgent, requireBinaries, runOk, startAgent, tempDir } from "./harness.ts";
import { argValue } from "./lib.ts";

const RUNS = Number(argValue("--runs") ?? 3000);
const USERS_EVERY = Number(argValue("--users-every") ?? 10);
const PS_EVERY = Number(argValue("--ps-every") ?? 500);
const STATE_DIR = argValue("--state-dir");

type Memory = { rss: number; anon: number; file: number };

function memory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rss: kib("VmRSS"), anon: kib("RssAnon"), file: kib("RssFile") };
  } catch {
    return undefined;
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

async function main() {
  requireBinaries();
  const stateDir = STATE_DIR ?? tempDir("keg-bench-mem-");
  if (!existsSync(stateDir)) mkdirSync(stateDir, { recursive: true });
  // A copy under a name of its own: a clean-up elsewhere on a shared machine that stops stray
  // keg-agents by name passes it by (it re-executes itself for supervisors, so the name holds).
  const binary = join(tempDir("keg-bench-mem-bin-"), "mem-agent");
  copyFileSync(kegAgent, binary);
  chmodSync(binary, 0o755);
  const agent = await startAgent("membox", [], binary, stateDir);
  const token = agent.addUser("bench");
  const zip = (await packUpload({ addFiles: [] })).zip;
  const spec = (detach: boolean): RunSpec => ({ command: "exec", args: ["true"], env: {}, timeout: 0, box: "membox", downloads: [], detach, force: false });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" };

  const samples: { at: number; runs: number; mem: Memory }[] = [];
  let done = 0;
  const started = Date.now();
  // The agent's error lines, as they come (its log keeps only the end).
  const errors = new Set<string>();
  const sampler = setInterval(() => {
    for (const line of agent.log().split("\n")) if (/ event=error /.test(line)) errors.add(line);
    const mem = memory(agent.pid);
    if (mem) samples.push({ at: Date.now() - started, runs: done, mem });
  }, 1000);

  async function oneRun(detach: boolean): Promise<void> {
    for (;;) {
      const response = await fetch(`${agent.url}/v1/runs`, { method: "POST", body: encodeRunBody(spec(detach), zip) as Uint8Array<ArrayBuffer>, headers });
      if (response.status === 409) {
        await response.text();
        await Bun.sleep(5);
        continue;
      }
      if (!response.ok) throw new Error(`POST /v1/runs: ${response.status} ${await response.text()}`);
      if (detach) {
        await response.json();
        return;
      }
      const decoder = new FrameDecoder();
      let code: number | undefined;
      for await (const chunk of response.body!) for (const frame of decoder.push(chunk)) if (frame.type === Frame.exit) code = decodeJson<{ code: number }>(frame.payload).code;
      if (code !== 0) throw new Error(`run exited ${code}`);
      return;
    }
  }

  const before = memory(agent.pid)!;
  console.log(`agent pid ${agent.pid}, state ${stateDir}; at start: VmRSS ${mib(before.rss)} MiB, RssAnon ${mib(before.anon)}, RssFile ${mib(before.file)}`);
  const psTimes: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    try {
      await oneRun(i % 2 === 0);
    } catch (error) {
      const code = await Promise.race([agent.proc.exited, Bun.sleep(500).then(() => "alive")]);
      throw new Error(`run ${i}: ${(error as Error).message}; agent ${code}, its log's end:\n${agent.log().slice(-3000)}`);
    }
    done = i;
    if (USERS_EVERY && i % USERS_EVERY === 0) runOk([kegAgent, "users", "add", `u${i}`, "--state-dir", stateDir]);
    if (PS_EVERY && i % PS_EVERY === 0) {
      const t = performance.now();
      const list = (await (await fetch(`${agent.url}/v1/runs`, { headers })).json()) as unknown[];
      psTimes.push(performance.now() - t);
      const mem = memory(agent.pid)!;
      console.log(
        `${String(i).padStart(6)} runs, ${((Date.now() - started) / 1000).toFixed(0)} s: ps ${list.length} records in ${psTimes.at(-1)!.toFixed(0)} ms; VmRSS ${mib(mem.rss)} MiB, RssAnon ${mib(mem.anon)}, RssFile ${mib(mem.file)}`,
      );
    }
  }
  // Detached runs still ending: let them, and their prunes, settle.
  await Bun.sleep(3000);
  clearInterval(sampler);
  const q = Math.max(1, Math.floor(samples.length / 4));
  const mean = (list: typeof samples, key: keyof Memory) => list.reduce((sum, s) => sum + s.mem[key], 0) / Math.max(1, list.length);
  const first = samples.slice(0, q);
  const last = samples.slice(-q);
  console.log(`\n${RUNS} runs in ${((Date.now() - started) / 1000).toFixed(0)} s, ${samples.length} samples; mean of the first quartile → last (MiB):`);
  for (const key of ["rss", "anon", "file"] as const) console.log(`  ${{ rss: "VmRSS  ", anon: "RssAnon", file: "RssFile" }[key]} ${mib(mean(first, key))} → ${mib(mean(last, key))}`);
  const peak = samples.reduce((max, s) => Math.max(max, s.mem.rss), 0);
  console.log(`  agent errors: ${errors.size}${[...errors].map((line) => `\n    ${line}`).join("")}`);
  console.log(`  peak VmRSS ${mib(peak)}; records on disk: ${join(stateDir, "runs")}`);
}

try {
  await main();
} finally {
  await cleanUp();
}
