/** Signalling a run's process group. @module */

/** Sends `signal` (0 = just check) to the group led by `pid`; false when the group is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

const STOP_STEPS: [NodeJS.Signals, number][] = [
  ["SIGINT", 2000],
  ["SIGTERM", 2000],
  ["SIGKILL", 0],
];

/**
 * Stops the group led by `pid`: SIGINT, then SIGTERM, then SIGKILL, 2 s apart,
 * until it is gone (or `ended()` says the run has ended). `send` delivers each
 * signal (a container run's go through its runtime).
 */
export async function stopGroup(pid: number, ended: () => boolean = () => false, send = (signal: NodeJS.Signals) => signalGroup(pid, signal)): Promise<void> {
  for (const [signal, wait] of STOP_STEPS) {
    if (!send(signal)) return;
    const deadline = Date.now() + wait;
    while (Date.now() < deadline) {
      if (ended() || !signalGroup(pid, 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
