/**
 * The pipes of a run's stdout, stderr and fd 3, made by keg itself (pipe2
 * through bun:ffi) rather than by Bun's spawn, which gives
 * a child socket pairs: so a script sees pipes, as under `python3 x.py | cat`
 * and as in a warm run (docs/usage.md "Warm interpreter"). Under Deno runs keep
 * node's socket pairs: Deno reads no descriptor it did not open. Linux constants,
 * the same on x86_64 and arm64.
 * @module
 */
import { closeSync, fstatSync } from "node:fs";

export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_SETPIPE_SZ = 1031;
/** Bigger reads for the supervisor; the box may allow less (then the default 64 KiB stays). */
export const PIPE_BYTES = 1024 * 1024;

export type OutputPipe = { read: number; write: number };

/** The libc calls a runtime's adapter provides for it. */
export type PipeCalls = { pipe2(flags: number): [number, number] | undefined; fcntl(fd: number, command: number, arg: number): number };

/** A pipe whose write end a script gets and whose read end (non-blocking when asked) is ours; both close on exec. */
export function outputPipe(calls: PipeCalls, nonBlockingRead: boolean): OutputPipe {
  const fds = calls.pipe2(O_CLOEXEC);
  if (!fds) throw new Error("cannot make a pipe for the run's output");
  const [read, write] = fds;
  calls.fcntl(read, F_SETPIPE_SZ, PIPE_BYTES);
  if (nonBlockingRead) calls.fcntl(read, F_SETFL, calls.fcntl(read, F_GETFL, 0) | O_NONBLOCK);
  return { read, write };
}

/** `widenStdoutPipe` for both runtimes: `fcntl` is only asked for (its library loaded) when stdout is a pipe on Linux. */
export function widenStdoutPipeWith(fcntl: () => PipeCalls["fcntl"]): void {
  if (process.platform !== "linux") return;
  try {
    if (fstatSync(1).isFIFO()) fcntl()(1, F_SETPIPE_SZ, PIPE_BYTES);
  } catch {}
}

export function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {}
  }
}
