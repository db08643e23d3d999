/** Runs starting and ending as operator log lines: who ran what, how it ended, how long it took (docs/usage.md "Operating a box"). @module */
import type { RunInfo } from "../wire/api.ts";
import { logEvent } from "./log.ts";
import type { ExitRecord } from "./run-files.ts";

type Run = RunInfo & { forced?: boolean };

export function logRunStarted(run: Run): void {
  logEvent("run-started", { id: run.id, user: run.user, command: run.command, runnable: run.runnable, detached: run.detached, forced: run.forced || undefined });
}

export function logRunEnded(run: Run, exit: ExitRecord): void {
  const duration = Date.parse(exit.ended) - Date.parse(run.started);
  logEvent("run-ended", {
    id: run.id,
    user: run.user,
    runnable: run.runnable,
    status: exit.status,
    exit_code: exit.code,
    signal: exit.signal ?? undefined,
    duration_s: Number.isFinite(duration) ? Math.max(0, duration) / 1000 : undefined,
  });
}
