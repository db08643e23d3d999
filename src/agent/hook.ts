/** The post-run hook (`serve --post-run-hook`), run after each run (docs/usage.md "Runs"). @module */
import { spawn } from "node:child_process";
import type { AgentConfig } from "./config.ts";

const HOOK_TIMEOUT_MS = 60_000;

export function runHook(config: AgentConfig, run: { id: string; user: string; exit_code: number | null }): Promise<void> {
  if (!config.postRunHook) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", config.postRunHook!], {
      stdio: "ignore",
      env: { ...process.env, KEG_PROCESS_ID: run.id, KEG_USER: run.user, KEG_EXIT_CODE: String(run.exit_code ?? "") },
      timeout: HOOK_TIMEOUT_MS,
    });
    child.on("error", () => resolve());
    child.on("exit", () => resolve());
  });
}
