/** Ending a whole process group, for the adapters' captured runs (node:process, the same under Bun and Deno). @module */

/** SIGKILL to the group led by `pid`; nothing when it is gone. */
export function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {}
}
