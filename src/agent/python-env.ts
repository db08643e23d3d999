/**
 * The Python side of the box (docs/usage.md "Box Python"): the real
 * interpreter behind `--python` (resolved once, in the background while the
 * agent starts listening: a pyenv shim costs ~100 ms a start), the managed
 * venv in `STATE/venv` that every python run and `keg pip` use, and the `keg`
 * module written to the state dir so every script can `import keg`.
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../errors.ts";
import { encodeFrame, Frame } from "../wire/frames.ts";
import kegModule from "./python/keg/__init__.py" with { type: "text" };

/** What python runs are started with. */
export type PythonRunner = {
  /** the interpreter of python runs */
  python: string;
  /** the venv `python` belongs to; undefined when it could not be made */
  venv?: string;
  /** said on the stderr of every run that uses the plain interpreter instead of the venv */
  warning?: string;
};

export type PythonEnv = {
  libDir: string;
  /** rejects with the reason there is no Python at all */
  runner: Promise<PythonRunner>;
  /** the runner once it is known (undefined while it is being made, or when there is no Python), so a run need not wait */
  known(): PythonRunner | undefined;
  /** the runner is known, or known to be missing */
  settled(): boolean;
};

const RESOLVE_TIMEOUT_MS = 10_000;
/** A fresh venv takes ~5 s; a loaded box may need far longer. Runs wait at most this long for it. */
export const VENV_TIMEOUT_MS = 180_000;
/** Written last: a venv without it was cut short and is made again. */
const READY_MARK = ".keg-ready";

function run(file: string, args: string[], timeout: number): Promise<{ ok: boolean; stdout: string; why: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: "utf8", timeout, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const why = (stderr.trim().split("\n").filter(Boolean).pop() ?? "") || error?.message.split("\n")[0] || "no output";
      resolve({ ok: !error, stdout: stdout.trim(), why });
    });
  });
}

async function resolveInterpreter(python: string): Promise<string> {
  const result = await run(python, ["-c", "import sys; print(sys.executable)"], RESOLVE_TIMEOUT_MS);
  if (result.ok && result.stdout) return result.stdout;
  throw new KegError("failed", `No Python on this box: cannot run '${python}' (${result.why}). Start keg-agent with --python PATH.`);
}

/** The venv in `dir` when it was made whole and its python still runs (its base interpreter may be gone). */
async function reusable(dir: string): Promise<boolean> {
  const python = join(dir, "bin", "python");
  return existsSync(join(dir, READY_MARK)) && (await run(python, ["-c", "import pip"], RESOLVE_TIMEOUT_MS)).ok;
}

/** Makes (or reuses) the venv; resolves to why it cannot be made, or undefined when it is there. */
async function makeVenv(dir: string, python: string): Promise<string | undefined> {
  if (await reusable(dir)) return undefined;
  rmSync(dir, { recursive: true, force: true });
  // From --python as given: its `-m venv` is what the box's package provides (or lacks).
  const made = await run(python, ["-m", "venv", dir], VENV_TIMEOUT_MS);
  if (made.ok && (await run(join(dir, "bin", "python"), ["-c", "import pip"], RESOLVE_TIMEOUT_MS)).ok) {
    writeFileSync(join(dir, READY_MARK), `${python}\n`);
    return undefined;
  }
  rmSync(dir, { recursive: true, force: true });
  return made.ok ? "its pip does not run" : made.why;
}

async function venvRunner(stateDir: string, python: string, real: string): Promise<PythonRunner> {
  const dir = join(stateDir, "venv");
  const why = await makeVenv(dir, python);
  if (!why) return { python: join(dir, "bin", "python"), venv: dir };
  console.error(
    `keg-agent: warning: cannot make the Python venv in ${dir} with '${python} -m venv' (${why}). Install the python3-venv package on this box (apt install python3-venv) and restart keg-agent; until then runs use ${real} itself and 'keg pip' is refused.`,
  );
  return {
    python: real,
    warning: `keg: warning: this box has no venv (python3-venv is missing; see keg-agent's log): running with ${real} itself, without the packages of 'keg pip'.\n`,
  };
}

/**
 * Resolves the interpreter in the background; with `venv`, then makes or
 * reuses `STATE/venv` (serve does; in-process tests use the plain interpreter).
 */
export function preparePython(stateDir: string, python: string, options: { venv?: boolean } = {}): PythonEnv {
  const libDir = join(stateDir, "lib");
  mkdirSync(join(libDir, "keg"), { recursive: true });
  writeFileSync(join(libDir, "keg", "__init__.py"), kegModule);
  const real = resolveInterpreter(python);
  real.catch((error: Error) => console.error(`keg-agent: warning: ${error.message}`));
  const runner = real.then((path) => (options.venv ? venvRunner(stateDir, python, path) : { python: path }));
  let known: PythonRunner | undefined;
  let settled = false;
  runner.then(
    (value) => ((known = value), (settled = true)),
    () => (settled = true),
  );
  return { libDir, runner, known: () => known, settled: () => settled };
}

/** Runs that need the box's Python before they start: python runs on the box itself (not in a container) and pip. */
export const usesBoxPython = (spec: { command: string; image?: string }) => spec.command === "pip" || (spec.command === "python" && spec.image === undefined);

/** Whether a run must be told something before it starts (it waits for the venv, or runs without it). */
export function hasNotice(env: PythonEnv, spec: { command: string; image?: string }): boolean {
  return usesBoxPython(spec) && (!env.settled() || env.known()?.warning !== undefined);
}

const stderrFrame = (text: string) => encodeFrame(Frame.stderr, new TextEncoder().encode(text));

/**
 * The frames a run gets before it starts: a line while it waits for the venv
 * (the wait is not part of its --timeout: the run has not started), the
 * warning when it runs without one. Throws when there is no Python at all.
 */
export async function* pythonNotices(env: PythonEnv, spec: { command: string; image?: string }): AsyncGenerator<Uint8Array> {
  if (!usesBoxPython(spec)) return;
  if (!env.settled()) yield stderrFrame("keg: waiting for the box's Python venv, which keg-agent makes once after it starts…\n");
  const runner = await env.runner;
  if (runner.warning && spec.command === "python") yield stderrFrame(runner.warning);
}

/** The interpreter of a run; pip needs the venv, never the box's own Python. */
export async function interpreterFor(env: PythonEnv, command: "python" | "pip"): Promise<string> {
  const runner = await env.runner;
  if (command === "pip" && !runner.venv)
    throw new KegError("failed", "This box has no Python venv for 'keg pip' (python3-venv is missing). Install python3-venv on the box and restart keg-agent.");
  return runner.python;
}
