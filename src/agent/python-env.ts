/**
 * The Python side of the box (docs/usage.md "Box Python"): the managed venv
 * in `STATE/venv` that every python run and `keg pip` use, made from
 * `--python` in the background while the agent starts listening (its python
 * is the real interpreter: a pyenv shim costs ~100 ms a start); without a
 * venv, the real interpreter behind `--python`, resolved once; and the `keg`
 * module written to the state dir so every script can `import keg`.
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KegError } from "../errors.ts";
import { encodeFrame, Frame } from "../wire/frames.ts";
import kegModule from "./python/keg/__init__.py" with { type: "text" };
import { describeError, logEvent } from "./log.ts";
import { asRunUser, type RunUser } from "./run-user.ts";
import { handOverTree } from "./state-modes.ts";

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
  /** the venv's python once pip is in it (installed at the first need); rejects with the reason pip cannot run */
  pip(): Promise<string>;
  /** pip is known to be in the venv */
  pipReady(): boolean;
};

const RESOLVE_TIMEOUT_MS = 10_000;
/** The venv and its pip take seconds (pip ~5 s); a loaded box may need far longer. Runs wait at most this long. */
const VENV_TIMEOUT_MS = 180_000;
/** Written last: a venv without it was cut short and is made again. */
const READY_MARK = ".keg-ready";
const NO_VENV_PACKAGE = "Install the python3-venv package on this box (apt install python3-venv) and restart keg-agent";

function run(file: string, args: string[], timeout: number, user?: RunUser): Promise<{ ok: boolean; stdout: string; why: string }> {
  // The venv belongs to the run user: what is in it runs as that user, never as the agent (docs/security.md).
  const [program, ...rest] = user ? asRunUser(user, [file, ...args]) : [file, ...args];
  return new Promise((resolve) => {
    execFile(program!, rest, { encoding: "utf8", timeout, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
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

/** Made whole, and its python still there (its base interpreter may be gone: the link then leads nowhere). */
const reusable = (dir: string) => existsSync(join(dir, READY_MARK)) && existsSync(join(dir, "bin", "python"));

/**
 * pip is in the venv, or its base Python has ensurepip to put it there
 * (Debian's python makes a venv without python3-venv, but one that can never
 * have pip). Read from the files: starting Python costs a loaded box seconds.
 */
function canHavePip(dir: string): boolean {
  const lib = join(dir, "lib");
  if (existsSync(lib) && readdirSync(lib).some((version) => existsSync(join(lib, version, "site-packages", "pip")))) return true;
  const cfgFile = join(dir, "pyvenv.cfg");
  const cfg = existsSync(cfgFile) ? readFileSync(cfgFile, "utf8") : "";
  const home = /^home\s*=\s*(.+)$/m.exec(cfg)?.[1]?.trim();
  const version = /^version(?:_info)?\s*=\s*(\d+\.\d+)/m.exec(cfg)?.[1];
  // A layout we cannot read: let ensurepip say at the first pip.
  if (!home || !version) return true;
  return existsSync(join(dirname(home), "lib", `python${version}`, "ensurepip"));
}

/**
 * Makes the venv; resolves to why it cannot be made, or undefined. It is
 * made without pip (a fraction of a second: runs need not wait long); pip
 * goes in at the first `keg pip`, since installing it is what takes seconds.
 */
async function makeVenv(dir: string, python: string, user?: RunUser): Promise<string | undefined> {
  rmSync(dir, { recursive: true, force: true });
  // From --python as given: its `-m venv` is what the box's package provides (or lacks).
  const made = await run(python, ["-m", "venv", "--without-pip", dir], VENV_TIMEOUT_MS);
  if (!made.ok) return made.why;
  if (!canHavePip(dir)) return "no ensurepip";
  writeFileSync(join(dir, READY_MARK), `${python}\n`);
  if (user) handOverTree(dir, user);
  return undefined;
}

/**
 * The venv's runner (one Python start when it is new, none when it is
 * reused: the venv's python is the real interpreter), or the plain
 * interpreter's with a warning when it cannot be made.
 */
async function venvRunner(stateDir: string, python: string, user?: RunUser): Promise<PythonRunner> {
  const dir = join(stateDir, "venv");
  const why = reusable(dir) ? undefined : await makeVenv(dir, python, user);
  if (!why) return { python: join(dir, "bin", "python"), venv: dir };
  rmSync(dir, { recursive: true, force: true });
  const real = await resolveInterpreter(python);
  logEvent("warning", {
    message: `cannot make the Python venv in ${dir} with '${python} -m venv' (${why}). ${NO_VENV_PACKAGE}; until then runs use ${real} itself and 'keg pip' is refused.`,
  });
  return {
    python: real,
    warning: `keg: warning: this box has no venv (python3-venv is missing; see keg-agent's log): running with ${real} itself, without the packages of 'keg pip'.\n`,
  };
}

/** Puts pip into the venv unless it is there (ensurepip: what Debian's python3-venv provides). */
async function installPip(runner: PythonRunner, user?: RunUser): Promise<string> {
  if (!runner.venv)
    throw new KegError("failed", "This box has no Python venv for 'keg pip' (python3-venv is missing). Install python3-venv on the box and restart keg-agent.");
  if ((await run(runner.python, ["-c", "import pip"], RESOLVE_TIMEOUT_MS, user)).ok) return runner.python;
  const installed = await run(runner.python, ["-m", "ensurepip", "--default-pip"], VENV_TIMEOUT_MS, user);
  if (installed.ok) {
    if (user) handOverTree(runner.venv, user);
    return runner.python;
  }
  logEvent("warning", { message: `cannot put pip into the venv ${runner.venv} (${installed.why}). ${NO_VENV_PACKAGE}.` });
  throw new KegError("failed", `This box cannot put pip into its venv (${installed.why}). Install python3-venv on the box and restart keg-agent.`);
}

/**
 * Resolves the interpreter in the background; with `venv`, then makes or
 * reuses `STATE/venv` (serve does; in-process tests use the plain interpreter),
 * owned by `user` (`--run-as`: pip runs as that user).
 */
export function preparePython(stateDir: string, python: string, options: { venv?: boolean; user?: RunUser } = {}): PythonEnv {
  const libDir = join(stateDir, "lib");
  mkdirSync(join(libDir, "keg"), { recursive: true });
  writeFileSync(join(libDir, "keg", "__init__.py"), kegModule);
  const runner = options.venv ? venvRunner(stateDir, python, options.user) : resolveInterpreter(python).then((real) => ({ python: real }));
  runner.catch((error: Error) => logEvent("error", { during: "finding the python for runs", cause: describeError(error) }));
  let known: PythonRunner | undefined;
  let settled = false;
  runner.then(
    (value) => ((known = value), (settled = true)),
    () => (settled = true),
  );
  let pip: Promise<string> | undefined;
  let pipReady = false;
  return {
    libDir,
    runner,
    known: () => known,
    settled: () => settled,
    pip() {
      // Once; a failure is tried again by the next pip (the package may have been installed since).
      pip ??= runner.then((known) => installPip(known, options.user)).then(
        (path) => ((pipReady = true), path),
        (error) => {
          pip = undefined;
          throw error;
        },
      );
      return pip;
    },
    pipReady: () => pipReady,
  };
}

/** Runs that need the box's Python before they start: python runs on the box itself (not in a container) and pip. */
export const usesBoxPython = (spec: { command: string; image?: string }) => spec.command === "pip" || (spec.command === "python" && spec.image === undefined);

/** Whether a run may have to wait for the venv (or, for pip, its pip) before it starts. */
export function mayWait(env: PythonEnv, spec: { command: string; image?: string }): boolean {
  return usesBoxPython(spec) && (!env.settled() || (spec.command === "pip" && !env.pipReady()));
}

const stderrFrame = (text: string) => encodeFrame(Frame.stderr, new TextEncoder().encode(text));
/** A wait shorter than this goes unsaid (a loaded box takes that long to start a few interpreters). */
const SAY_WAIT_AFTER_MS = 3000;

const settlesWithin = (promise: Promise<unknown>, ms: number) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => (clearTimeout(timer), resolve(true));
    promise.then(done, done);
  });

/**
 * The frames a run gets before it starts: a line while it waits for the venv
 * or pip (the wait is not part of its --timeout: the run has not started).
 * Throws when there is no Python, or no pip for pip.
 */
export async function* pythonNotices(env: PythonEnv, spec: { command: string; image?: string }, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  if (!usesBoxPython(spec)) return;
  const pip = spec.command === "pip";
  // A client that goes away ends the wait (the caller then starts nothing).
  const gone = new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener("abort", () => resolve(), { once: true })));
  const ready = Promise.race([pip ? env.pip() : env.runner, gone]);
  if (!(await settlesWithin(ready, SAY_WAIT_AFTER_MS)))
    yield stderrFrame(
      pip && env.known() ? "keg: putting pip into the box's venv (once; it takes a few seconds)…\n" : "keg: waiting for the box's Python venv, which keg-agent makes once after it starts…\n",
    );
  await ready;
}
