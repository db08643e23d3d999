/**
 * The post-run hook (`serve --post-run-hook`), run after each run and pip, as
 * the run user with the scripts' clean environment (docs/usage.md "Post-run hook").
 * @module
 */
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import type { AgentConfig } from "./config.ts";
import { asRunUser, runUserOf } from "./run-user.ts";
import { baseEnv } from "./script-env.ts";

const HOOK_TIMEOUT_MS = 60_000;

export function runHook(config: AgentConfig, run: { id: string; user: string; exit_code: number | null }): Promise<void> {
  if (!config.postRunHook) return Promise.resolve();
  const user = runUserOf(config);
  const [program, ...args] = asRunUser(user, ["/bin/sh", "-c", config.postRunHook]);
  return new Promise((resolve) => {
    const child = spawn(program!, args, {
      stdio: "ignore",
      env: { ...baseEnv(user, tmpdir()), KEG_PROCESS_ID: run.id, KEG_USER: run.user, KEG_EXIT_CODE: String(run.exit_code ?? "") },
      timeout: HOOK_TIMEOUT_MS,
    });
    child.on("error", () => resolve());
    child.on("exit", () => resolve());
  });
}
