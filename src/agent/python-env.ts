/**
 * The Python side of the box: the real interpreter behind `--python` (resolved
 * once, in the background while the agent starts listening: a pyenv shim costs
 * ~100 ms a start), and the `keg` module written to the state dir so every
 * script can `import keg`.
 * @module
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../errors.ts";
import kegModule from "./python/keg/__init__.py" with { type: "text" };
import { describeError, logEvent } from "./log.ts";

export type PythonEnv = {
  libDir: string;
  /** the interpreter's real path; rejects with the reason it cannot be run */
  interpreter: Promise<string>;
};

export function preparePython(stateDir: string, python: string): PythonEnv {
  const libDir = join(stateDir, "lib");
  mkdirSync(join(libDir, "keg"), { recursive: true });
  writeFileSync(join(libDir, "keg", "__init__.py"), kegModule);
  const interpreter = new Promise<string>((resolve, reject) => {
    execFile(python, ["-c", "import sys; print(sys.executable)"], { encoding: "utf8", timeout: 10_000 }, (error, stdout, stderr) => {
      const real = error ? "" : stdout.trim();
      if (real) return resolve(real);
      const why = error?.message.split("\n")[0] || stderr.trim() || "no output";
      reject(new KegError("failed", `No Python on this box: cannot run '${python}' (${why}). Start keg-agent with --python PATH.`));
    });
  });
  interpreter.catch((error: Error) => logEvent("error", { during: "finding the python for runs", cause: describeError(error) }));
  return { libDir, interpreter };
}
