/** keg's exit code after an attached run, as docs/cli.md "Exit codes" lists them. */
import { describe, expect, test } from "bun:test";
import { exitCodeFor, unknownExitReason, type RunOutcome } from "../../src/client/exit-code.ts";

/** A run that started, exited with `exitCode`, and whose cycle ended, with nothing else going on. */
const ran = (exitCode: number | undefined, more: Partial<RunOutcome> = {}): RunOutcome => ({
  started: true,
  exitCode,
  cycleEnded: true,
  streamCut: false,
  stdoutClosed: false,
  downloadFailed: false,
  ...more,
});

const table: [string, RunOutcome, number, ReturnType<typeof unknownExitReason>][] = [
  ["the script's own code", ran(3), 3, undefined],
  ["the script's 0", ran(0), 0, undefined],
  ["the script's own 255", ran(255), 255, undefined],
  ["timeout, SIGTERM: 124 passes through", ran(124), 124, undefined],
  ["timeout, SIGKILL: 137 passes through", ran(137), 137, undefined],
  ["Ctrl-C: the run stopped, its code came", ran(130, { interrupt: "SIGINT" }), 130, undefined],
  ["Ctrl-C: whatever code the stopped run had", ran(0, { interrupt: "SIGINT" }), 130, undefined],
  ["SIGTERM to keg", ran(143, { interrupt: "SIGTERM" }), 143, undefined],
  ["SIGHUP to keg", ran(1, { interrupt: "SIGHUP" }), 129, undefined],
  ["Ctrl-C before the run started (uploading or waiting in line)", ran(undefined, { started: false, cycleEnded: false, streamCut: true, interrupt: "SIGINT" }), 130, "cut"],
  ["SIGTERM before the run started", ran(undefined, { started: false, cycleEnded: false, interrupt: "SIGTERM" }), 143, "ended"],
  ["Ctrl-C, then the stream cut after the exit code came", ran(0, { cycleEnded: false, streamCut: true, interrupt: "SIGINT" }), 130, "cut"],
  ["Ctrl-C, then the stream cut before the exit code came", ran(undefined, { cycleEnded: false, streamCut: true, interrupt: "SIGINT" }), 255, "cut"],
  ["keg's stdout closed", ran(0, { stdoutClosed: true }), 141, undefined],
  ["keg's stdout closed, then Ctrl-C", ran(0, { stdoutClosed: true, interrupt: "SIGINT" }), 130, undefined],
  ["the stream cut mid-run", ran(undefined, { cycleEnded: false, streamCut: true }), 255, "cut"],
  ["the stream cut after the exit code, before the cycle ended", ran(0, { cycleEnded: false, streamCut: true }), 255, "cut"],
  ["the stream cut after the cycle ended", ran(4, { streamCut: true }), 4, undefined],
  ["the stream ended without an exit code", ran(undefined, { cycleEnded: false }), 255, "ended"],
  ["the stream ended after the exit code, without an end frame", ran(6, { cycleEnded: false }), 6, undefined],
  ["the run exited 0 but a download failed", ran(0, { downloadFailed: true }), 1, undefined],
  ["the run failed and a download failed too: the run's code", ran(3, { downloadFailed: true }), 3, undefined],
  ["a download failed and the stdout closed", ran(0, { downloadFailed: true, stdoutClosed: true }), 141, undefined],
  ["a download failed, then Ctrl-C", ran(0, { downloadFailed: true, interrupt: "SIGINT" }), 130, undefined],
];

describe("exitCodeFor", () => {
  test.each(table)("%s", (_, outcome, code, unknown) => {
    expect(exitCodeFor(outcome)).toBe(code);
    expect(unknownExitReason(outcome)).toBe(unknown);
  });
});
