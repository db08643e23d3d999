/**
 * keg's exit code after an attached run (docs/cli.md "Exit codes"), from
 * what happened during it. Pure: no I/O.
 * @module
 */
import { EXIT_STDOUT_CLOSED } from "../stdout.ts";

/** The signals keg handles while it follows a run; each ends keg with 128+N. */
export const INTERRUPT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type Interrupt = keyof typeof INTERRUPT_CODES;

/** The run's exit code could not be learnt from the box. */
export const EXIT_UNKNOWN = 255;
export { EXIT_STDOUT_CLOSED };
/** The run exited 0 but a download failed. */
export const EXIT_DOWNLOAD_FAILED = 1;

export type RunOutcome = {
  /** the `started` frame arrived */
  started: boolean;
  /** the run's own code, when its `exit` frame arrived */
  exitCode?: number;
  /** the `end` frame arrived: the box ended the cycle and released its lock */
  cycleEnded: boolean;
  /** the stream broke, rather than ended */
  streamCut: boolean;
  /** the first of SIGINT, SIGTERM, SIGHUP keg received, if any */
  interrupt?: Interrupt;
  /** keg's stdout was closed */
  stdoutClosed: boolean;
  /** at least one download failed */
  downloadFailed: boolean;
};

/**
 * Why the run's exit code is unknown: the stream was cut before the cycle
 * ended, or it ended before the exit frame came. Undefined when it is known.
 */
export function unknownExitReason(outcome: RunOutcome): "cut" | "ended" | undefined {
  if (outcome.streamCut && (outcome.exitCode === undefined || !outcome.cycleEnded)) return "cut";
  if (outcome.exitCode === undefined) return "ended";
  return undefined;
}

export function exitCodeFor(outcome: RunOutcome): number {
  const { exitCode, interrupt } = outcome;
  // Interrupted before the run began, or after its exit code came: nothing is unknown.
  if (interrupt && (!outcome.started || exitCode !== undefined)) return INTERRUPT_CODES[interrupt];
  if (exitCode === undefined || unknownExitReason(outcome)) return EXIT_UNKNOWN;
  if (outcome.stdoutClosed) return EXIT_STDOUT_CLOSED;
  if (outcome.downloadFailed && exitCode === 0) return EXIT_DOWNLOAD_FAILED;
  return exitCode;
}
