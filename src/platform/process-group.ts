/** Ending a whole process group, for the adapters' captured runs (node:process, the same under Bun and Deno). @module */

/** SIGKILL to the group led by `pid`; nothing when it is gone. */
function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {}
}

/** A deadline for the group led by `pid`: killed when `ms` pass; `end()` cancels the deadline and ends what is left. */
export function groupDeadline(pid: number | undefined, ms: number): { end(): void; readonly timedOut: boolean } {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pid);
  }, ms);
  return {
    end() {
      clearTimeout(timer);
      killGroup(pid);
    },
    get timedOut() {
      return timedOut;
    },
  };
}
