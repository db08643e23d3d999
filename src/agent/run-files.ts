/**
 * The files of one run folder on the box. `work/` is the script's working
 * directory (its upload) and `tmp/` its TMPDIR; the rest is the agent's: the output spool,
 * the process id and the exit record.
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomically } from "../files/atomic-write.ts";
import type { WarmOrders } from "./warm-start.ts";

export type RunPlan = {
  argv: string[];
  /** a client follows it: stop it if the agent dies */
  attached: boolean;
  env: Record<string, string>;
  timeoutSeconds: number;
  logLimitBytes: number;
  /** said on the run's stderr before it starts (a run without the box's venv) */
  notice?: string;
  /** the warm interpreter may start it (src/agent/warm-start.ts); `argv` is then the fallback */
  warm?: WarmOrders;
  /** an `--image` run: signals go to this container through its runtime (src/agent/container.ts) */
  container?: { runtime: string; name: string };
};

export type ExitRecord = {
  code: number;
  signal: string | null;
  /** "exited" by itself, "killed" by a signal, "timeout" */
  status: "exited" | "killed" | "timeout";
  ended: string;
  /** the warm interpreter started it */
  warm?: boolean;
};

export const runPaths = (runDir: string) => ({
  work: join(runDir, "work"),
  spool: join(runDir, "spool"),
  upload: join(runDir, "upload.zip"),
  /** the script's TMPDIR, owned by the run user */
  tmp: join(runDir, "tmp"),
  pid: join(runDir, "pid"),
  exit: join(runDir, "exit.json"),
  /** an `--image` run's container (runtime and name), for stops through the runtime */
  container: join(runDir, "container.json"),
});

export function writeJsonAtomically(path: string, value: unknown): void {
  writeFileAtomically(path, JSON.stringify(value), { sync: false });
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}
