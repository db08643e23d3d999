/**
 * The targets of docs/performance.md as lines, `<what>: <measured> (target
 * <target>) → met` or `→ NOT met`, shared by bench/check.ts (quick) and
 * bench/run.ts / bench/startup.ts (full). No set-up of its own (bench/warm.ts
 * measures the warm interpreter).
 * @module
 */
import { MB, ms, type Summary } from "./lib.ts";

export const targetLine = (what: string, measured: string, target: string, ok: boolean) => `${what}: ${measured} (target ${target}) → ${ok ? "met" : "NOT met"}`;

const sign = (value: number) => (value >= 0 ? `+${ms(value)}` : ms(value));
export const MBofKiB = (kib: number) => (kib * 1024) / MB;

/**
 * Target 1: keg's overhead over the same script run by hand. `local`: the
 * real interpreter (the target's words); `venv`: the box venv's python, the
 * same interpreter without the real one's site-packages (here a .pth there
 * imports certifi at every start, tens of ms on a loaded machine). keg runs
 * the venv's, so that is the baseline of the verdict when it is there:
 * judged against the real interpreter, keg would "win" by the .pth it skips.
 */
export function overheadLine(how: string, kegRow: Summary, local: Summary, venv?: Summary): string {
  const base = venv ?? local;
  const over = kegRow.median - base.median;
  const what = venv ? "local empty.py with the venv's python (the interpreter keg runs)" : "local python3 empty.py";
  const besides = venv ? `; against the real interpreter with its site-packages, ${ms(local.median)} ms: ${sign(kegRow.median - local.median)} ms` : "";
  return targetLine(
    `run overhead, ${how}: keg python run empty.py − ${what}`,
    `${sign(over)} ms (median keg ${ms(kegRow.median)} − local ${ms(base.median)}, ${kegRow.runs} interleaved runs${besides})`,
    "≤ +10 ms",
    over <= 10,
  );
}

/** Target 3, from the median MB/s of each path. */
export function streamLines(kegRate: number, defaultRate: number | undefined, aesRate: number | undefined, runs: number): string[] {
  if (defaultRate === undefined || aesRate === undefined) return [`streaming 1 GiB of stdout vs ssh: no sshd here (keg ${kegRate.toFixed(0)} MB/s) (target ≥ 2× ssh) → NOT met`];
  const how = `medians of ${runs} interleaved runs${runs < 5 ? "; quick: the target asks ≥ 5, npm run bench has them" : ""}`;
  return [
    targetLine("streaming 1 GiB of stdout: keg exec vs ssh 127.0.0.1 (default cipher)", `${kegRate.toFixed(0)} vs ${defaultRate.toFixed(0)} MB/s = ${(kegRate / defaultRate).toFixed(2)}× (${how})`, "≥ 2×", kegRate >= 2 * defaultRate),
    targetLine("streaming 1 GiB of stdout: keg exec vs ssh -c aes128-gcm@openssh.com", `${kegRate.toFixed(0)} vs ${aesRate.toFixed(0)} MB/s = ${(kegRate / aesRate).toFixed(2)}× (${how})`, "≥ 1.2×", kegRate >= 1.2 * aesRate),
  ];
}

/** Target 5, first half: KiB figures of one stalled-client run. */
export function stalledLine(pssTotalKiB: number, agentKiB: number, supervisorKiB: number, received: number, expected: number): string {
  const whole = received === expected ? "all of it reached the client" : `the client got ${received} of ${expected} bytes`;
  return targetLine(
    "memory: agent + run supervisor PSS while a stalled client holds a 1 GiB stream",
    `${MBofKiB(pssTotalKiB).toFixed(0)} MB max (agent VmRSS max ${MBofKiB(agentKiB).toFixed(0)} MB, supervisor ${MBofKiB(supervisorKiB).toFixed(0)} MB; ${whole})`,
    "≤ 100 MB",
    MBofKiB(pssTotalKiB) <= 100 && received === expected,
  );
}

/** Target 5, second half. */
export function fastReaderLine(afterKiB: number, maxKiB: number): string {
  return targetLine(
    "memory: agent RSS after serving 1 GiB to a fast reader",
    `${MBofKiB(afterKiB).toFixed(0)} MB 1 s after the stream (max ${MBofKiB(maxKiB).toFixed(0)} MB while streaming)`,
    "≤ 100 MB",
    MBofKiB(afterKiB) <= 100,
  );
}

/** Target 6. */
export function startupLines(version: Summary, help: Summary, python: Summary): string[] {
  const ratio = version.median / python.median;
  const n = `medians, ${version.runs} interleaved runs`;
  return [
    targetLine("start-up: keg --version vs Debian's /usr/bin/python3 -c pass", `${ms(version.median)} vs ${ms(python.median)} ms = ${ratio.toFixed(2)}× (${n})`, "≤ 0.6×", ratio <= 0.6),
    targetLine("start-up: keg --help vs Debian's /usr/bin/python3 -c pass", `${ms(help.median)} vs ${ms(python.median)} ms (${n})`, "≤ python", help.median <= python.median),
  ];
}

