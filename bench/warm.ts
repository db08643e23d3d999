/**
 * Target 2, the warm interpreter (docs/performance.md "Warm interpreter"):
 * measured by bench/check.ts and bench/run.ts alike.
 * @module
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildWheel } from "../test/helpers/wheel.ts";
import { benchEnv, keg, kegAgent, kegHome, runOk, startAgent, stopProcess, tempDir, waitForSpareSync, type BenchAgent, type Sshd } from "./harness.ts";
import { median, ms, timeAll, type Command, type Summary } from "./lib.ts";
import { targetLine } from "./targets.ts";

const HEAVY = "kegbenchheavy";
/** What the heavy module's import should cost here, locally. */
export const HEAVY_IMPORT_MS = 300;

const WARM_ROWS = [
  ["warm interpreter: keg python run empty.py vs local python3 empty.py", "keg faster than local"],
  ["warm interpreter: keg python run empty.py vs ssh (ControlMaster reused) python3 empty.py", "keg faster than ssh"],
  [`warm interpreter: a script importing a preloaded ~${HEAVY_IMPORT_MS} ms module vs the same script locally`, "keg faster by at least the import time"],
] as const;

export type WarmResult =
  | { available: false; why: string }
  | { available: true; rows: Summary[]; venv?: { empty: Summary; heavy: Summary }; ssh?: Summary; servedWarm: number; runs: number; heavyImportMs: number; agent: BenchAgent };

/** A module whose import costs about `targetMs` here: pure CPU work at import, calibrated against the local interpreter. */
function heavyModule(python: string, targetMs: number): string {
  const source = (n: number) => `# keg bench: a module that is slow to import\n_N = ${n}\nTABLE = [i * i % 7919 for i in range(_N)]\nVALUE = sum(TABLE)\n`;
  const dir = tempDir("keg-bench-heavy-");
  const time = (n: number) => {
    writeFileSync(join(dir, `${HEAVY}.py`), source(n));
    const samples: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < 3; i++) {
      let t = performance.now();
      runOk([python, "-c", `import ${HEAVY}`], { PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: "1" });
      samples.push(performance.now() - t);
      t = performance.now();
      runOk([python, "-c", "pass"]);
      bare.push(performance.now() - t);
    }
    return median(samples) - median(bare);
  };
  const n = 1_000_000;
  return source(Math.max(10_000, Math.round((n * targetMs) / Math.max(time(n), 1))));
}

/**
 * Target 2: an agent with `serve --warm-python --preload kegbenchheavy` (the
 * module put into its venv with `keg pip`, from a wheel, then the agent
 * started again on the same state dir to preload it). Unavailable when the
 * agent refuses the flag (a build without the warm interpreter).
 */
export async function measureWarm(work: string, python: string, sshd: Sshd | undefined, runs: number): Promise<WarmResult> {
  const box = "warm";
  const state = tempDir("keg-bench-warm-");
  let first: BenchAgent;
  try {
    first = await startAgent(box, ["--warm-python"], kegAgent, state);
  } catch (error) {
    const message = (error as Error).message;
    if (!/warm-python/.test(message)) throw error;
    return { available: false, why: "keg-agent refuses serve --warm-python" };
  }
  const code = heavyModule(python, HEAVY_IMPORT_MS);
  const token = first.addUser("bench");
  const wheels = tempDir("keg-bench-wheel-");
  const wheel = buildWheel(wheels, HEAVY, code);
  runOk([keg, "pip", "--box", box, "install", "--no-index", join(wheels, wheel)], { KEG_HOME: kegHome(first, box, token) }, wheels);
  await stopProcess(first.proc);
  const agent = await startAgent(box, ["--warm-python", "--preload", HEAVY], kegAgent, state);
  const home = kegHome(agent, box, token);
  const kegEnv = benchEnv({ KEG_HOME: home });
  const localDir = join(work, "heavy-local");
  mkdirSync(localDir, { recursive: true });
  writeFileSync(join(localDir, `${HEAVY}.py`), code);
  writeFileSync(join(work, "heavy.py"), `import ${HEAVY}\n`);
  writeFileSync(join(work, "empty.py"), "");
  const spare = () => waitForSpareSync(agent.pid);
  const commands: Command[] = [
    { label: "keg python run empty.py (warm agent)", cmd: [keg, "python", "run", "empty.py", "--box", box], env: kegEnv, cwd: work, before: spare },
    { label: "local: python3 empty.py", cmd: [python, join(work, "empty.py")], env: benchEnv(), cwd: work },
    { label: `keg python run heavy.py (import ${HEAVY}, preloaded)`, cmd: [keg, "python", "run", "heavy.py", "--box", box], env: kegEnv, cwd: work, before: spare },
    { label: `local: python3 heavy.py (import ${HEAVY})`, cmd: [python, join(work, "heavy.py")], env: benchEnv({ PYTHONPATH: localDir }), cwd: work },
  ];
  // The venv's python (what a cold run executes): the same interpreter without the real one's site-packages.
  const venvPython = join(state, "venv", "bin", "python");
  const venv = existsSync(venvPython);
  if (venv)
    commands.push(
      { label: "local: the venv's python empty.py", cmd: [venvPython, join(work, "empty.py")], env: benchEnv(), cwd: work },
      { label: `local: the venv's python heavy.py (import ${HEAVY})`, cmd: [venvPython, join(work, "heavy.py")], env: benchEnv({ PYTHONPATH: localDir }), cwd: work },
    );
  if (sshd) commands.push({ label: "ssh reused (ControlMaster): real python3 empty.py, no .bashrc", cmd: ["ssh", ...sshd.mux, "127.0.0.1", `${python} ${join(work, "empty.py")}`], env: sshd.env(true) });
  const rows = timeAll(commands, { runs });
  // Did the warm path serve them? `ps --json` says for each run (`warm`).
  const listed = (JSON.parse(runOk([keg, "python", "ps", "--box", box, "--json"], { KEG_HOME: home })) as { runnable: string; warm?: boolean }[]).filter((r) => r.runnable.endsWith(".py"));
  const [, localEmpty, , localHeavy] = rows;
  const venvRows = venv ? { empty: rows[4]!, heavy: rows[5]! } : undefined;
  const ssh = sshd ? rows[venv ? 6 : 4] : undefined;
  return { available: true, rows, venv: venvRows, ssh, servedWarm: listed.filter((r) => r.warm === true).length, runs: listed.length, heavyImportMs: localHeavy!.median - localEmpty!.median, agent };
}

/**
 * The verdicts take the venv's python as "local" when it is there (as the
 * run-overhead line does): the real interpreter's site-packages .pth costs
 * it tens of ms at every start, which keg would otherwise "beat".
 */
export function warmLines(result: WarmResult): string[] {
  if (!result.available) return WARM_ROWS.map(([what, target]) => `${what}: not available in this build (${result.why}) (target ${target}) → NOT met`);
  const [kegEmpty, realEmpty, kegHeavy, realHeavy] = result.rows as [Summary, Summary, Summary, Summary];
  const localEmpty = result.venv?.empty ?? realEmpty;
  const localHeavy = result.venv?.heavy ?? realHeavy;
  const which = result.venv ? "the venv's python" : "python3";
  const besides = (real: Summary) => (result.venv ? `; the real interpreter with its site-packages ${ms(real.median)} ms` : "");
  const allWarm = result.runs > 0 && result.servedWarm === result.runs;
  const n = `medians, ${kegEmpty.runs} interleaved runs${allWarm ? "" : `; only ${result.servedWarm} of ${result.runs} runs served warm`}`;
  const importMs = localHeavy.median - localEmpty.median;
  const bound = localHeavy.median - importMs;
  return [
    targetLine(`${WARM_ROWS[0][0]} (${which})`, `keg ${ms(kegEmpty.median)} vs local ${ms(localEmpty.median)} ms (${n}${besides(realEmpty)})`, WARM_ROWS[0][1], allWarm && kegEmpty.median < localEmpty.median),
    result.ssh
      ? targetLine(WARM_ROWS[1][0], `keg ${ms(kegEmpty.median)} vs ssh ${ms(result.ssh.median)} ms (${n})`, WARM_ROWS[1][1], allWarm && kegEmpty.median < result.ssh.median)
      : `${WARM_ROWS[1][0]}: no sshd here, not measured (target ${WARM_ROWS[1][1]}) → NOT met`,
    targetLine(
      `${WARM_ROWS[2][0]} (${which})`,
      `keg ${ms(kegHeavy.median)} vs local ${ms(localHeavy.median)} ms, import ${ms(importMs)} ms (${n}${besides(realHeavy)})`,
      `keg ≤ local − import = ${ms(bound)} ms`,
      allWarm && kegHeavy.median <= bound,
    ),
  ];
}
