/**
 * The Python side of the box: the real interpreter behind `--python` (resolved
 * once: a pyenv shim costs ~100 ms a start), and the `keg` module written to
 * the state dir so every script can `import keg`.
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import kegModule from "./python/keg/__init__.py" with { type: "text" };

export type PythonEnv = { python: string | undefined; libDir: string; problem?: string };

export function preparePython(stateDir: string, python: string): PythonEnv {
  const libDir = join(stateDir, "lib");
  mkdirSync(join(libDir, "keg"), { recursive: true });
  writeFileSync(join(libDir, "keg", "__init__.py"), kegModule);
  const found = spawnSync(python, ["-c", "import sys; print(sys.executable)"], { encoding: "utf8", timeout: 10_000 });
  const real = found.status === 0 ? found.stdout.trim() : "";
  if (!real) return { python: undefined, libDir, problem: `cannot run '${python}' on this box (${found.error?.message ?? found.stderr.trim() ?? "no output"})` };
  return { python: real, libDir };
}
