/**
 * Runs through keg against their baselines, in one run (docs/performance.md
 * "Run overhead", "Streaming"). Build first (`npm run build`), then:
 *   bun bench/run.ts [--runs N] [--stream-runs N] [--only overhead,warm,phases,stream,rss,upload]
 *
 * - run overhead: `keg python run empty.py` against the same interpreter run
 *   locally (and the box venv's python, which keg runs) and through ssh to
 *   127.0.0.1 (fresh connection and ControlMaster reuse, with and without
 *   root's .bashrc), median/p90 of N runs; then keg back to back;
 * - the warm interpreter (bench/targets.ts measureWarm), when the agent has it;
 * - phases: where the time of one run goes, from an in-process client's frame
 *   times and the run folder's file times on the agent, and the CLI's share
 *   against a stub server;
 * - an upload of 2,000 small files: time until the script runs, against an
 *   empty directory, and the pack / unpack split measured in-process, beside
 *   the file system's own floor (2,000 plain file creations);
 * - 1 GiB of stdout through keg, ssh (default cipher and aes128-gcm) and a
 *   local pipe, then keg and ssh into a pipe (`| cat`), 5 runs each
 *   (--stream-runs), and the agent's RSS after;
 * - agent and run supervisor RSS while a stopped client stalls on 1 GiB (and
 *   the idle spare supervisor's apart), and the two halves of the stream apart
 *   (supervisor intake, agent replay).
 *
 * The agent keeps one spare supervisor (`keg-agent supervise`, its child)
 * started ahead of need and refills it 100 ms after a run ends; runs here come
 * faster than a person types them, so each timed run first waits for the
 * spare (untimed), except the back-to-back phases, which show the cost of
 * finding none.
 *
 * Temp dirs go under $TMPDIR (default /tmp); file creation there can be much
 * slower than elsewhere on a machine where tests churn /tmp (docs/performance.md).
 * Everything listens on 127.0.0.1 only. The agent, the throwaway sshd, the ssh
 * master and every temp dir are removed at the end (also on Ctrl-C).
 * @module
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packUpload } from "../src/client/pack.ts";
import { unpackUpload } from "../src/agent/unpack.ts";
import { encodeRunBody, type RunSpec, type StartedInfo } from "../src/wire/api.ts";
import { decodeJson, Frame, FrameDecoder } from "../src/wire/frames.ts";
import {
  benchEnv,
  cleanUp,
  describeBuild,
  dropFinishedSpools,
  GiB,
  keg,
  kegHome,
  MB,
  memorySampler,
  ms,
  realPython,
  requireBinaries,
  rssKiB,
  stalledClient,
  stopProcess,
  startAgent,
  startSshd,
  supervisors,
  table,
  tempDir,
  timeStream,
  waitForSpare,
  waitForSpareSync,
  type BenchAgent,
  type Sshd,
  type StreamCommand,
} from "./harness.ts";
import { argValue, formatTable, median, p90, summarise, timeAll, timeOnce, type Command, type Summary } from "./lib.ts";
import { fastReaderLine, overheadLine, stalledLine, streamLines } from "./targets.ts";
import { measureWarm, warmLines, type WarmResult } from "./warm.ts";

const runs = Number(argValue("--runs") ?? 30);
const only = new Set((argValue("--only") ?? "overhead,warm,phases,stream,rss,upload").split(","));
const streamRuns = Number(argValue("--stream-runs") ?? 5);
const BOX = "lab";

requireBinaries();

/** Figures the summary at the end compares with the targets. */
const results: {
  overhead?: { keg: Summary; local: Summary; venv?: Summary; b2b: Summary; b2bLocal: Summary; b2bVenv?: Summary; ssh: Summary[] };
  warm?: WarmResult;
  stream?: { rows: { label: string; mbps: number }[]; agentAfterKiB: number; agentMaxKiB: number; rounds: number };
  rss?: { agentMaxMiB: number; supervisorMaxMiB: number; pssTotalMiB: number; idleMiB: number; pssTotalKiB: number; agentKiB: number; supervisorKiB: number; received: number };
  upload?: { extraMs: number };
} = {};

async function main() {
  const work = tempDir("keg-bench-run-");
  const python = realPython();
  const agent = await startAgent(BOX, ["--log-limit", "2048"]);
  const token = agent.addUser("bench");
  const home = kegHome(agent, BOX, token);
  const kegEnv = benchEnv({ KEG_HOME: home });
  writeFileSync(join(work, "empty.py"), "");
  const sshd = only.has("overhead") || only.has("stream") ? await startSshd() : undefined;

  console.log(`keg run bench: ${new Date().toISOString()}, ${navigator.hardwareConcurrency} CPUs, ${describeBuild()}, interpreter ${python}`);
  console.log(`agent ${agent.url} (--log-limit 2048), ssh baseline: ${sshd ? `sshd on 127.0.0.1:${sshd.port}` : "skipped"}\n`);

  if (only.has("overhead")) overhead(work, python, agent, kegEnv, sshd);
  if (only.has("warm")) await warm(work, python, sshd);
  if (only.has("phases")) await phases(work, python, agent, token);
  // The upload first: the 1 GiB runs leave gigabytes of spool for the disk to write back.
  if (only.has("upload")) await upload(work, agent, token, kegEnv);
  if (only.has("stream")) await streaming(work, agent, kegEnv, sshd);
  if (only.has("rss")) await stalledClientRow(work, agent, token, kegEnv);
  summary();
}

// ---- run overhead ----------------------------------------------------------

function overhead(work: string, python: string, agent: BenchAgent, kegEnv: Record<string, string>, sshd: Sshd | undefined) {
  const script = join(work, "empty.py");
  // One run first: it waits for the venv the agent makes at start, whose python is a baseline too.
  timeOnce({ label: "first run", cmd: [keg, "python", "run", "empty.py", "--box", BOX], env: kegEnv, cwd: work });
  const venvPython = join(agent.stateDir, "venv", "bin", "python");
  const local: Command = { label: "local: python3 empty.py (real interpreter)", cmd: [python, script], env: benchEnv(), cwd: work };
  const venv: Command[] = existsSync(venvPython) ? [{ label: "local: the box venv's python empty.py (what keg runs)", cmd: [venvPython, script], env: benchEnv(), cwd: work }] : [];
  const commands: Command[] = [
    { label: "keg python run empty.py --box lab", cmd: [keg, "python", "run", "empty.py", "--box", BOX], env: kegEnv, cwd: work, before: () => waitForSpareSync(agent.pid) },
    local,
    ...venv,
  ];
  if (sshd) {
    const host = "127.0.0.1";
    const [withRc, noRc] = [sshd.env(false), sshd.env(true)];
    commands.push(
      { label: "ssh fresh: python3 empty.py (.bashrc, pyenv shim)", cmd: ["ssh", ...sshd.base, host, `python3 ${script}`], env: withRc },
      { label: "ssh fresh: real python3, no .bashrc", cmd: ["ssh", ...sshd.base, host, `${python} ${script}`], env: noRc },
      { label: "ssh reused (ControlMaster): python3 empty.py (.bashrc, shim)", cmd: ["ssh", ...sshd.mux, host, `python3 ${script}`], env: withRc },
      { label: "ssh reused (ControlMaster): real python3, no .bashrc", cmd: ["ssh", ...sshd.mux, host, `${python} ${script}`], env: noRc },
    );
  }
  commands.push({ label: "keg --version (CLI start-up alone)", cmd: [keg, "--version"], env: kegEnv });
  const rows = timeAll(commands, { runs, warmup: 3 });
  console.log(`== Run overhead: ${runs} runs each, interleaved after 3 warm-up rounds, wall time spawn to exit; keg waits (untimed) for the agent's spare supervisor ==\n`);
  console.log(formatTable(rows));
  const [kegRow, localRow] = [rows[0]!, rows[1]!];
  const venvRow = venv.length ? rows[2] : undefined;
  console.log(`\noverhead keg − local: median ${ms(kegRow.median - localRow.median)} ms, p90 ${ms(kegRow.p90 - localRow.p90)} ms, min ${ms(kegRow.min - localRow.min)} ms\n`);
  // Back to back, as a loop in a script starts them: the next right after the last one's end.
  const b2b = timeAll([{ label: "keg python run empty.py --box lab, back to back", cmd: [keg, "python", "run", "empty.py", "--box", BOX], env: kegEnv, cwd: work }, local, ...venv], { runs, warmup: 3 });
  console.log(`== The same back to back (no wait for the spare): ${runs} runs each, interleaved ==\n`);
  console.log(formatTable(b2b));
  console.log();
  results.overhead = { keg: kegRow, local: localRow, venv: venvRow, b2b: b2b[0]!, b2bLocal: b2b[1]!, b2bVenv: venv.length ? b2b[2] : undefined, ssh: rows.filter((r) => r.label.startsWith("ssh")) };
}

// ---- the warm interpreter ------------------------------------------------------

async function warm(work: string, python: string, sshd: Sshd | undefined) {
  const result = await measureWarm(work, python, sshd, Math.min(runs, 20));
  console.log("== The warm interpreter (serve --warm-python --preload kegbenchheavy) ==\n");
  if (!result.available) console.log(`not available in this build: ${result.why}\n`);
  else {
    console.log(formatTable([...result.rows]));
    console.log(`\nthe heavy module's import, locally: ${ms(result.heavyImportMs)} ms; runs served warm (ps --json): ${result.servedWarm} of ${result.runs}\n`);
    await stopProcess(result.agent.proc);
  }
  results.warm = result;
}

// ---- phases of one run -------------------------------------------------------

type Timeline = Record<string, number>;

/**
 * One run through the HTTP API from this process, timing each frame's arrival
 * from the moment the request is sent; the agent's side from the run folder:
 * plan.json (written just before the run folder is handed to a supervisor: the
 * idle spare, or a new one when there is none), pid (written by the supervisor
 * once the script is spawned), exit.json (the supervisor saw the script exit
 * and spooled the exit frame). File times come from the kernel's coarse clock
 * (a few ms of granularity).
 */
async function timedRun(agent: BenchAgent, token: string, zip: Uint8Array, spec: RunSpec, firstLine?: string, stamped = false): Promise<Timeline> {
  const epoch = () => performance.timeOrigin + performance.now();
  const t0 = epoch();
  const at = (name: string, into: Timeline) => (into[name] ??= epoch() - t0);
  const times: Timeline = {};
  const response = await fetch(`${agent.url}/v1/runs`, {
    method: "POST",
    body: encodeRunBody(spec, zip) as Uint8Array<ArrayBuffer>,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
  });
  at("headers", times);
  if (!response.ok) throw new Error(`POST /v1/runs: ${response.status} ${await response.text()}`);
  const decoder = new FrameDecoder();
  let id = "";
  let out = "";
  for await (const chunk of response.body!) {
    for (const frame of decoder.push(chunk)) {
      if (frame.type === Frame.started) {
        at("started frame", times);
        id = decodeJson<StartedInfo>(frame.payload).id;
      } else if (frame.type === Frame.stdout) {
        at("first stdout", times);
        out += new TextDecoder().decode(frame.payload);
        if (firstLine && out.includes(firstLine)) at("script's line", times);
      } else if (frame.type === Frame.exit) {
        at("exit frame", times);
        const code = decodeJson<{ code: number }>(frame.payload).code;
        if (code !== 0) throw new Error(`run exited ${code}: ${out}`);
      } else if (frame.type === Frame.end) at("end frame", times);
      else if (frame.type === Frame.error) throw new Error(`error frame: ${new TextDecoder().decode(frame.payload)}`);
    }
  }
  at("body closed", times);
  // A script that prints its own clock (ms since the epoch) as its last act.
  if (stamped) times["script: printed its clock (its last act)"] = Number(out.trim()) - t0;
  const dir = join(agent.stateDir, "runs", id);
  for (const [name, file] of [["agent: plan.json written", "plan.json"], ["agent: pid written (script spawned)", "pid"], ["agent: exit.json written", "exit.json"]] as const) {
    try {
      times[name] = statSync(join(dir, file)).mtimeMs - t0;
    } catch {}
  }
  return times;
}

const runSpec = (entry: string): RunSpec => ({ command: "python", entry, args: [], env: {}, timeout: 0, box: BOX, downloads: [], detach: false, force: false });

function timelineTable(samples: Timeline[]): string {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  const rows = names
    .map((name) => {
      const values = samples.map((s) => s[name]).filter((v): v is number => v !== undefined);
      return { name, med: median(values), p: p90(values) };
    })
    .sort((a, b) => a.med - b.med);
  return table(["event (ms after the request was sent)", "median", "p90"], rows.map((r) => [r.name, ms(r.med), ms(r.p)]));
}

async function phases(work: string, python: string, agent: BenchAgent, token: string) {
  const n = 15;
  const packTimes: number[] = [];
  let zip: Uint8Array = new Uint8Array();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    zip = (await packUpload({ runnable: join(work, "empty.py"), addFiles: [] })).zip;
    packTimes.push(performance.now() - t);
  }
  for (let i = 0; i < 3; i++) await timedRun(agent, token, zip, runSpec("empty.py"));
  // As a run usually comes: the agent's spare supervisor started and idle.
  const samples: Timeline[] = [];
  for (let i = 0; i < n; i++) {
    await waitForSpare(agent.pid);
    samples.push(await timedRun(agent, token, zip, runSpec("empty.py")));
  }
  // Back to back, as a loop in a script would: the spare is refilled only 100 ms after a run ends.
  const backToBack: Timeline[] = [];
  let spareThere = 0;
  for (let i = 0; i < n; i++) {
    if (supervisors(agent.pid).idle.length) spareThere++;
    backToBack.push(await timedRun(agent, token, zip, runSpec("empty.py")));
  }
  // A script that prints its clock as its last act: when it ended, against the exit frame.
  writeFileSync(join(work, "stamp.py"), 'import sys, time\nsys.stdout.write(f"{time.time() * 1000:.3f}\\n")\nsys.stdout.flush()\n');
  const stampZip = (await packUpload({ runnable: join(work, "stamp.py"), addFiles: [] })).zip;
  const stamped: Timeline[] = [];
  for (let i = 0; i < n; i++) {
    await waitForSpare(agent.pid);
    stamped.push(await timedRun(agent, token, stampZip, runSpec("stamp.py"), undefined, true));
  }
  // The same interpreter spawned from this process, for the script's own share.
  const spawnTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const proc = Bun.spawn([python, join(work, "empty.py")], { stdout: "pipe", stderr: "pipe" });
    await proc.exited;
    spawnTimes.push(performance.now() - t);
  }
  console.log(`== Phases of one run of empty.py: ${n} runs, an in-process client (no CLI start-up, no packing), the spare supervisor idle and ready ==\n`);
  console.log(timelineTable(samples));
  console.log(`\n== The same with stamp.py, which prints its clock (time.time()) as its last act, ${n} runs, spare ready ==\n`);
  console.log(timelineTable(stamped));
  console.log(`\n== The same, ${n} runs back to back (a spare supervisor existed at ${spareThere} of ${n} requests) ==\n`);
  console.log(timelineTable(backToBack));
  // Interpreter teardown: stamp.py spawned from this process, from its printed clock to its exit as seen here.
  const teardown: number[] = [];
  for (let i = 0; i < n; i++) {
    const proc = Bun.spawn([python, join(work, "stamp.py")], { stdout: "pipe", stderr: "pipe" });
    const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    teardown.push(performance.timeOrigin + performance.now() - Number(out.trim()));
  }
  console.log(`\npacking empty.py in-process: median ${ms(median(packTimes))} ms; the same interpreter spawned from this process: median ${ms(median(spawnTimes))} ms`);
  console.log(`stamp.py spawned from this process: its printed clock → its exit seen here (interpreter teardown): median ${ms(median(teardown))} ms\n`);
  await cliSide(work);
}

/**
 * The CLI's own share: how long `keg` takes from spawn until its request
 * reaches a stub server on 127.0.0.1 (which answers at once with an error),
 * and until it has exited.
 */
async function cliSide(work: string) {
  let arrived = 0;
  const stub = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      arrived = performance.now();
      await request.arrayBuffer();
      return Response.json({ error: { code: "failed", message: "stub" } }, { status: 500 });
    },
  });
  const address = `http://127.0.0.1:${stub.port}`;
  const env = benchEnv({ KEG_TOKEN: "stub" });
  const commands: [string, string[]][] = [
    ["keg python run empty.py", [keg, "python", "run", "empty.py", "--box", address]],
    ["keg boxes lock", [keg, "boxes", "lock", "--box", address]],
    ["keg --version (no request)", [keg, "--version"]],
  ];
  const rows: string[][] = [];
  try {
    for (const [label, cmd] of commands) {
      const toRequest: number[] = [];
      const toExit: number[] = [];
      for (let i = 0; i < 18; i++) {
        arrived = 0;
        const t = performance.now();
        await Bun.spawn(cmd, { env, cwd: work, stdout: "ignore", stderr: "ignore" }).exited;
        if (i < 3) continue; // warm-up
        toExit.push(performance.now() - t);
        if (arrived) toRequest.push(arrived - t);
      }
      rows.push([label, toRequest.length ? ms(median(toRequest)) : "-", ms(median(toExit))]);
    }
  } finally {
    stub.stop(true);
  }
  console.log("== The CLI's share: spawn → its request at a stub server on 127.0.0.1 (answers 500 at once), 15 runs ==\n");
  console.log(table(["command", "→ request arrives, median ms", "→ exited, median ms"], rows));
  console.log();
}

// ---- 1 GiB of stdout -----------------------------------------------------------

async function streaming(work: string, agent: BenchAgent, kegEnv: Record<string, string>, sshd: Sshd | undefined) {
  const produce = `head -c ${GiB} /dev/zero`;
  const commands: StreamCommand[] = [
    { label: `keg exec --box lab -- ${produce} > /dev/null`, cmd: [keg, "exec", "--box", BOX, "--", "head", "-c", String(GiB), "/dev/zero"], env: kegEnv, cwd: work },
  ];
  if (sshd) {
    const noRc = sshd.env(true);
    commands.push(
      { label: `ssh 127.0.0.1 ${produce} > /dev/null (default cipher)`, cmd: ["ssh", ...sshd.base, "127.0.0.1", produce], env: noRc },
      { label: `ssh -c aes128-gcm@openssh.com … > /dev/null`, cmd: ["ssh", ...sshd.base, "-c", "aes128-gcm@openssh.com", "127.0.0.1", produce], env: noRc },
    );
  }
  commands.push({ label: `local: ${produce} | cat > /dev/null`, cmd: ["sh", "-c", `${produce} | cat > /dev/null`], env: benchEnv() });
  // Into a pipe, as `keg exec … | tee log` is used: keg widens a pipe on its stdout (docs/performance.md "Into a pipe, an early connection, and a new machine").
  const quote = (words: string[]) => words.map((word) => `'${word}'`).join(" ");
  const kegIntoPipe = commands.length;
  commands.push({ label: `keg exec --box lab -- ${produce} | cat > /dev/null`, cmd: ["sh", "-c", `${quote(commands[0]!.cmd)} | cat > /dev/null`], env: kegEnv, cwd: work });
  if (sshd) commands.push({ label: `ssh 127.0.0.1 ${produce} | cat > /dev/null (default cipher, into a pipe)`, cmd: ["sh", "-c", `${quote(commands[1]!.cmd)} | cat > /dev/null`], env: sshd.env(true) });
  const isKeg = (i: number) => i === 0 || i === kegIntoPipe;
  const rounds = streamRuns;
  const samples = commands.map(() => [] as number[]);
  let dropped = "";
  let kegMemory = { agent: 0, supervisor: 0, spare: 0, samples: 0 };
  for (let round = 0; round < rounds; round++) {
    for (const [i, command] of commands.entries()) {
      // The keg runs also sample the agent's and the supervisor's memory (a reading client this time).
      if (isKeg(i)) await waitForSpare(agent.pid);
      const sampler = i === 0 ? memorySampler(agent.pid) : undefined;
      const { ms: elapsed, stderr } = await timeStream(command);
      if (sampler) {
        const seen = sampler.stop();
        kegMemory = {
          agent: Math.max(kegMemory.agent, seen.agent),
          supervisor: Math.max(kegMemory.supervisor, seen.supervisor),
          spare: Math.max(kegMemory.spare, seen.spare),
          samples: kegMemory.samples + seen.samples,
        };
      }
      if (/dropped/.test(stderr)) dropped += stderr;
      samples[i]!.push(elapsed);
      if (isKeg(i)) dropFinishedSpools(agent);
    }
  }
  console.log(`== 1 GiB of stdout: ${rounds} runs each, interleaved, wall time spawn to exit (connection set-up included) ==\n`);
  const rows = commands.map((command, i) => {
    const s = summarise(command.label, samples[i]!);
    return { label: command.label, best: s.min, med: s.median, mbps: GiB / MB / (s.median / 1000) };
  });
  console.log(table(["command", "median ms", "min ms", "MB/s (median)"], rows.map((r) => [r.label, ms(r.med), ms(r.best), r.mbps.toFixed(0)])));
  console.log(`\n'dropped' warnings from keg: ${dropped ? dropped.trim() : "none"} (the byte count is checked in the stalled-client test)`);
  console.log(
    `while keg streamed (client reading): agent VmRSS max ${(kegMemory.agent / 1024).toFixed(1)} MiB, run supervisor VmRSS max ${(kegMemory.supervisor / 1024).toFixed(1)} MiB, idle spare supervisor max ${(kegMemory.spare / 1024).toFixed(1)} MiB (${kegMemory.samples} samples)\n`,
  );
  // The agent after serving 1 GiB to a fast reader: a second after the last keg stream ended (docs/performance.md "Memory").
  await Bun.sleep(1000);
  results.stream = { rows: rows.map((r) => ({ label: r.label, mbps: r.mbps })), agentAfterKiB: rssKiB(agent.pid) ?? 0, agentMaxKiB: kegMemory.agent, rounds };
}

// ---- agent memory with a stalled client -----------------------------------------

async function stalledClientRow(work: string, agent: BenchAgent, token: string, kegEnv: Record<string, string>) {
  const { idleAgent, spareBefore, spareAfter, agentAfter, memory, stoppedAt, producerMs, drainMs, received, code, stderr } = await stalledClient(work, agent, BOX, kegEnv);

  // The agent's half alone: the same finished run's output read again by an in-process client (no CLI).
  const list = (await (await fetch(`${agent.url}/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; runnable: string }[];
  const run = list.findLast((r) => r.runnable.includes("producer-done"))!;
  const replayStart = performance.now();
  const replay = await fetch(`${agent.url}/v1/runs/${run.id}/output`, { headers: { authorization: `Bearer ${token}` } });
  let replayed = 0;
  for await (const chunk of replay.body!) replayed += chunk.length;
  const replayMs = performance.now() - replayStart;
  dropFinishedSpools(agent);

  const MiB = (kib: number) => (kib / 1024).toFixed(1);
  const rate = (bytes: number, time: number) => (bytes / MB / (time / 1000)).toFixed(0);
  console.log("== Agent memory while a stopped client stalls on 1 GiB (VmRSS sampled every 200 ms) ==\n");
  console.log(
    table(
      ["figure", "value"],
      [
        ["agent VmRSS before the run (MiB)", MiB(idleAgent)],
        ["agent VmRSS max while the client was stopped (MiB)", MiB(memory.agent)],
        ["run supervisor VmRSS max (MiB)", MiB(memory.supervisor)],
        ["agent + supervisors, PSS summed per sample, max (MiB; the shared binary counted once)", MiB(memory.pssTotal)],
        ["idle spare supervisor VmRSS before the run / the next one, 1 s after the run (MiB)", `${MiB(spareBefore)} / ${MiB(spareAfter)}`],
        ["agent VmRSS 1 s after the run (MiB)", MiB(agentAfter)],
        ["RSS samples", memory.samples],
        ["client stopped after (ms)", ms(stoppedAt)],
        ["producer done after (ms): the supervisor's own intake", `${ms(producerMs)} (${rate(GiB, producerMs)} MB/s)`],
        ["client drain after SIGCONT (ms): agent + CLI", `${ms(drainMs)} (${rate(received, drainMs)} MB/s)`],
        [`bytes the client got (of ${GiB})`, received],
        ["client exit code", code],
        ["the finished run replayed to an in-process client (ms): agent alone", `${ms(replayMs)} (${rate(replayed, replayMs)} MB/s, ${replayed} bytes of frames)`],
      ],
    ),
  );
  console.log(`client stderr: ${stderr.trim() || "(empty)"}\n`);
  results.rss = {
    agentMaxMiB: memory.agent / 1024,
    supervisorMaxMiB: memory.supervisor / 1024,
    pssTotalMiB: memory.pssTotal / 1024,
    idleMiB: (idleAgent + spareBefore) / 1024,
    pssTotalKiB: memory.pssTotal,
    agentKiB: memory.agent,
    supervisorKiB: memory.supervisor,
    received,
  };
}

// ---- upload of 2,000 small files --------------------------------------------------

/** ~3 KB of text like source code: words from a small vocabulary, seeded, so it deflates like code does. */
function sourceLike(seed: number, bytes: number): string {
  const words = ["def", "return", "self", "value", "import", "for", "in", "range", "if", "else", "print", "data", "result", "None", "True", "x", "y", "index", "items", "=", "+", "(", ")", ":", "#"];
  let state = seed * 2654435761 + 1;
  const next = () => (state = (state * 1103515245 + 12345) >>> 0) % 100_000;
  let text = "";
  while (text.length < bytes) {
    let line = " ".repeat(4 * (next() % 3));
    for (let i = 0, n = 3 + (next() % 8); i < n; i++) line += `${words[next() % words.length]}${next() % 7 === 0 ? next() : ""} `;
    text += line.trimEnd() + "\n";
  }
  return text.slice(0, bytes);
}

async function upload(work: string, agent: BenchAgent, token: string, kegEnv: Record<string, string>) {
  const many = join(work, "many");
  const one = join(work, "one");
  const mainPy = 'print("started", flush=True)\n';
  for (const dir of [many, one]) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "main.py"), mainPy);
  }
  let totalBytes = 0;
  for (let i = 0; i < 2000; i++) {
    const text = sourceLike(i, 2500 + ((i * 37) % 1000));
    totalBytes += text.length;
    writeFileSync(join(many, `module_${String(i).padStart(4, "0")}.py`), text);
  }

  /** Wall time from spawning keg to the script's first line on keg's stdout, then to keg's exit. */
  async function toFirstLine(dir: string): Promise<{ line: number; exit: number }> {
    await waitForSpare(agent.pid);
    const t = performance.now();
    const proc = Bun.spawn([keg, "python", "run", dir, "--box", BOX], { env: kegEnv, cwd: work, stdout: "pipe", stderr: "pipe" });
    let line = NaN;
    let out = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      out += new TextDecoder().decode(chunk);
      if (Number.isNaN(line) && out.includes("started\n")) line = performance.now() - t;
    }
    const code = await proc.exited;
    if (code !== 0) throw new Error(`keg python run ${dir}: exit ${code}: ${await new Response(proc.stderr).text()}`);
    return { line, exit: performance.now() - t };
  }
  const rounds = 10;
  for (let i = 0; i < 2; i++) for (const dir of [one, many]) await toFirstLine(dir);
  const samples = { one: [] as number[], many: [] as number[], oneExit: [] as number[], manyExit: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const a = await toFirstLine(one);
    const b = await toFirstLine(many);
    samples.one.push(a.line);
    samples.oneExit.push(a.exit);
    samples.many.push(b.line);
    samples.manyExit.push(b.exit);
  }

  // The split, in-process: pack on the CLI side, unpack on the agent side (the same functions).
  const packMs: number[] = [];
  let packed = await packUpload({ runnable: many, addFiles: [] });
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    packed = await packUpload({ runnable: many, addFiles: [] });
    packMs.push(performance.now() - t);
  }
  const zipPath = join(work, "upload.zip");
  writeFileSync(zipPath, packed.zip);
  const unpackMs: number[] = [];
  // The file system's own floor, in the same place: 2,000 plain file creations of ~3 KB.
  // Nothing is deleted until the end: on ext4, creating files right after deleting
  // thousands costs several times more (the inode allocator), which would mix in here.
  const floorMs: number[] = [];
  const content = sourceLike(1, 3000);
  for (let i = 0; i < 5; i++) {
    const target = join(work, `plain-${i}`);
    mkdirSync(target);
    const t = performance.now();
    for (let j = 0; j < 2000; j++) writeFileSync(join(target, `f${j}`), content, { flag: "wx" });
    floorMs.push(performance.now() - t);
  }
  for (let i = 0; i < 5; i++) {
    const target = join(work, `unpacked-${i}`);
    mkdirSync(target);
    const t = performance.now();
    await unpackUpload(zipPath, target);
    unpackMs.push(performance.now() - t);
    if (readdirSync(target).length !== 2001) throw new Error(`unpacked ${readdirSync(target).length} entries, not 2001`);
  }
  // Where the agent spends it: frame times for both uploads through the API.
  const zipOne = (await packUpload({ runnable: one, addFiles: [] })).zip;
  const timelines = { one: [] as Timeline[], many: [] as Timeline[] };
  for (let i = 0; i < 5; i++) {
    await waitForSpare(agent.pid);
    timelines.one.push(await timedRun(agent, token, zipOne, runSpec("main.py"), "started\n"));
    await waitForSpare(agent.pid);
    timelines.many.push(await timedRun(agent, token, packed.zip, runSpec("main.py"), "started\n"));
  }
  const med = (list: Timeline[], name: string) => median(list.map((t) => t[name]!).filter((v) => v !== undefined));

  console.log(`== Upload of 2,000 small files (${(totalBytes / 1e6).toFixed(1)} MB, zip ${(packed.zip.length / 1e6).toFixed(2)} MB) + main.py: ${rounds} runs each, interleaved ==\n`);
  console.log(
    table(
      ["what", "median ms", "p90 ms"],
      [
        ["keg python run one/ (main.py only): spawn → script's line", ms(median(samples.one)), ms(p90(samples.one))],
        ["keg python run many/ (main.py + 2,000 files): spawn → script's line", ms(median(samples.many)), ms(p90(samples.many))],
        ["  difference (the cost of the 2,000 files)", ms(median(samples.many) - median(samples.one)), ""],
        ["keg python run one/: spawn → exit", ms(median(samples.oneExit)), ms(p90(samples.oneExit))],
        ["keg python run many/: spawn → exit", ms(median(samples.manyExit)), ms(p90(samples.manyExit))],
        ["in-process: packUpload(many/) (CLI side)", ms(median(packMs)), ms(p90(packMs))],
        ["in-process: unpackUpload(zip) (agent side)", ms(median(unpackMs)), ms(p90(unpackMs))],
        [`baseline: 2,000 plain writeFileSync of 3 KB in ${tmpdir()} (file system floor)`, ms(median(floorMs)), ms(p90(floorMs))],
        ["API client: request → headers, one/ (5 runs)", ms(med(timelines.one, "headers")), ""],
        ["API client: request → headers, many/ (upload, save, unpack)", ms(med(timelines.many, "headers")), ""],
        ["API client: request → script's line, one/", ms(med(timelines.one, "script's line")), ""],
        ["API client: request → script's line, many/", ms(med(timelines.many, "script's line")), ""],
      ],
    ),
  );
  console.log();
  results.upload = { extraMs: median(samples.many) - median(samples.one) };
}

// ---- summary -------------------------------------------------------------------

function summary() {
  const lines: string[] = [];
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  if (results.overhead) {
    const { keg: k, local, venv, b2b, b2bLocal, b2bVenv, ssh } = results.overhead;
    lines.push(overheadLine("a person's spacing", k, local, venv), overheadLine("back to back", b2b, b2bLocal, b2bVenv));
    if (ssh.length) {
      const fastest = ssh.reduce((a, b) => (a.median < b.median ? a : b));
      lines.push(`faster than ssh even with connection reuse: keg ${ms(k.median)} ms vs fastest ssh "${fastest.label}" ${ms(fastest.median)} ms → ${verdict(k.median < fastest.median)}`);
    } else lines.push("faster than ssh: no sshd, not measured");
  }
  if (results.warm) lines.push(...warmLines(results.warm));
  if (results.stream) {
    const { rows, agentAfterKiB, agentMaxKiB, rounds } = results.stream;
    const rate = (word: string) => rows.find((r) => r.label.includes(word))?.mbps;
    lines.push(...streamLines(rows[0]!.mbps, rate("default cipher"), rate("aes128-gcm"), rounds), fastReaderLine(agentAfterKiB, agentMaxKiB));
  }
  if (results.rss) lines.push(stalledLine(results.rss.pssTotalKiB, results.rss.agentKiB, results.rss.supervisorKiB, results.rss.received, GiB));
  if (results.upload) lines.push(`2,000 small files uploaded and unpacked within 300 ms: ${ms(results.upload.extraMs)} ms extra to the script's start → ${verdict(results.upload.extraMs <= 300)}`);
  console.log("== Targets ==\n");
  console.log(lines.join("\n"));
}

try {
  await main();
} finally {
  await cleanUp();
}
