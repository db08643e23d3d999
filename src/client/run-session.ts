/**
 * One attached run, CLI side: send the upload, show the frames live (stdout to
 * stdout, stderr to stderr, records decoded), heartbeat while attached, stop
 * the run on SIGINT, SIGTERM or SIGHUP, save downloads, and exit only after
 * the box has ended the cycle (docs/usage.md "Runs", docs/locks.md "The
 * command lock").
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { printError } from "../log.ts";
import type { RunSpec } from "../wire/api.ts";
import { Frame, type StartedInfo, type TypedFrame } from "../wire/frames.ts";
import { DownloadWriter } from "./downloads.ts";
import type { Forwards } from "./forwards.ts";
import { EXIT_UNKNOWN, exitCodeFor, INTERRUPT_CODES, unknownExitReason, type Interrupt, type RunOutcome } from "./exit-code.ts";
import { Heartbeat } from "./heartbeat.ts";
import { postJson } from "./http.ts";
import { onInterrupt } from "./interrupts.ts";
import { OutputPrinter } from "./output-printer.ts";
import { postRun } from "./post-run.ts";
import { ResumableStream, ResumeRefused } from "./resume.ts";
import { WaitingDisplay } from "./waiting.ts";
import type { Upload } from "./pack.ts";

export type SessionOptions = { outputFile?: string; cwd: string; forwards?: Forwards };

/** Shows frames as they come; returns the exit code once the cycle has ended. */
export function runAttached(box: Box, spec: RunSpec, upload: Upload, options: SessionOptions): Promise<number> {
  return new AttachedRun(box, options).run(spec, upload);
}

/** The state of one attached run, fed one frame at a time. */
class AttachedRun {
  private started?: StartedInfo;
  private interrupt?: Interrupt;
  /** the box answered the upload (the response's headers came) */
  private answered = false;
  private exitCode?: number;
  private cycleEnded = false;
  private readonly failedDownloads: string[] = [];
  /** the downloads whose `file_end` came on the current stream (the box sends them all again after a reconnection) */
  private readonly endedDownloads = new Set<string>();
  /** the downloads saved whole, on any stream */
  private readonly savedDownloads = new Set<string>();
  /** the run spec's downloads: each must end, whole or failed, before the cycle's end */
  private expectedDownloads: string[] = [];
  private readonly abort = new AbortController();
  private readonly waiting: WaitingDisplay;
  private readonly heartbeat: Heartbeat;
  private readonly printer: OutputPrinter;
  private readonly downloads: DownloadWriter;
  /** the run's frames across connection blips (docs/usage.md "Connection blips") */
  private readonly stream: ResumableStream;
  private readonly forwards?: Forwards;

  constructor(
    private readonly box: Box,
    options: SessionOptions,
  ) {
    this.forwards = options.forwards;
    this.waiting = new WaitingDisplay(box.name);
    this.heartbeat = new Heartbeat(box);
    // `keg … | head`: the reader of our stdout left; stop the run and end as SIGPIPE would.
    this.printer = new OutputPrinter(options.outputFile, () => this.stopOnBox());
    this.downloads = new DownloadWriter(options.cwd);
    this.stream = new ResumableStream(box, {
      // The box sends every download again after a reconnection.
      onBreak: () => {
        this.downloads.abort();
        this.failedDownloads.length = 0;
        this.endedDownloads.clear();
      },
      // A stop asked for while the box was out of reach may not have arrived.
      onResumed: () => {
        if (this.interrupt || this.printer.stdoutGone) this.stopOnBox();
      },
    });
  }

  async run(spec: RunSpec, upload: Upload): Promise<number> {
    const stopListening = onInterrupt(this.interrupted);
    this.expectedDownloads = spec.downloads;
    try {
      let response: Response;
      try {
        response = await postRun(this.box, spec, upload, this.abort.signal);
      } catch (error) {
        if (!this.abort.signal.aborted) throw error;
        printError("Interrupted before the run started.");
        return exitCodeFor(this.outcome(false));
      }
      this.answered = true;
      let cut: Error | undefined;
      try {
        for await (const frame of this.stream.frames(response)) await this.handle(frame);
      } catch (error) {
        this.downloads.abort();
        if (error instanceof ResumeRefused) {
          printError(error.message);
          return EXIT_UNKNOWN;
        }
        if (error instanceof KegError) throw error; // a refusal after waiting in line
        cut = error as Error;
      }
      return this.conclude(cut);
    } finally {
      this.heartbeat.stop();
      this.printer.close();
      this.forwards?.close();
      stopListening();
    }
  }

  private interrupted = (signal: Interrupt): void => {
    if (this.interrupt) process.exit(INTERRUPT_CODES[signal]); // a second signal: give up waiting
    this.interrupt = signal;
    const again = signal === "SIGINT" ? "Ctrl-C again" : `${signal} again`;
    process.stderr.write(`\nkeg: stopping the run on the box (${again} to leave at once)\n`);
    if (this.started) this.stopOnBox();
    // Still uploading or waiting in line: leave (the box stops a run whose client went
    // away). Once answered, the `started` frame comes first and its handler asks for the stop.
    else if (!this.answered || this.waiting.waiting) this.abort.abort();
  };

  /** Asks the box to stop the run, once it has started (until then the `started` handler asks). */
  private stopOnBox(): void {
    if (this.started) postJson(this.box, `/v1/runs/${this.started.id}/stop`, {}).catch(() => {});
  }

  private async handle(frame: TypedFrame): Promise<void> {
    if (await this.printer.show(frame)) return;
    if (this.waiting.handle(frame)) return;
    switch (frame.type) {
      case Frame.started:
        this.waiting.done();
        this.started = frame.payload;
        if (this.interrupt || this.printer.stdoutGone) this.stopOnBox();
        this.heartbeat.start(frame.payload);
        this.stream.resumeCycle(frame.payload);
        this.forwards?.bind(this.box, frame.payload.id);
        return;
      case Frame.exit:
        this.exitCode = frame.payload.code;
        this.forwards?.close();
        return;
      case Frame.file:
        return this.downloads.begin(frame.payload.path, frame.payload.size);
      case Frame.file_data:
        return this.downloads.data(frame.payload);
      case Frame.file_end: {
        const { path, ok, error } = frame.payload;
        const failed = await this.downloads.end(ok, error);
        this.endedDownloads.add(path);
        if (!failed) this.savedDownloads.add(path);
        // A file saved whole before a blip stays whole whatever its second sending says.
        else if (!this.savedDownloads.has(path)) this.failedDownloads.push(`Download of '${path}' failed: ${failed}.`);
        return;
      }
      case Frame.end:
        this.cycleEnded = true;
        // Never a silent success without a file: an older box replays an ended cycle without its downloads.
        for (const path of this.missingDownloads()) this.failedDownloads.push(`Download of '${path}' failed: the box did not send it.`);
        return;
    }
  }

  /** The downloads asked for that were never saved and whose end has not come on the current stream. */
  private missingDownloads(): string[] {
    return this.expectedDownloads.filter((path) => !this.endedDownloads.has(path) && !this.savedDownloads.has(path));
  }

  private outcome(streamCut: boolean): RunOutcome {
    return {
      started: this.started !== undefined,
      exitCode: this.exitCode,
      cycleEnded: this.cycleEnded,
      streamCut,
      interrupt: this.interrupt,
      stdoutClosed: this.printer.stdoutGone,
      downloadFailed: this.failedDownloads.length > 0,
    };
  }

  /** Says what went wrong, if anything, and gives the exit code. */
  private conclude(cut: Error | undefined): number {
    const outcome = this.outcome(cut !== undefined);
    const code = exitCodeFor(outcome);
    const unknown = unknownExitReason(outcome);
    const ps = `See 'keg python ps --box ${this.box.name}'.`;
    const missing = this.missingDownloads();
    if (code === EXIT_UNKNOWN && unknown === "cut" && this.exitCode !== undefined && missing.length)
      printError(
        `Lost the connection to box '${this.box.name}' before ${missing.map((p) => `'${p}'`).join(", ")} ${missing.length > 1 ? "were" : "was"} downloaded whole (${cut!.message}); nothing of it was saved. The run exited with code ${this.exitCode}.`,
      );
    else if (code === EXIT_UNKNOWN && unknown === "cut")
      printError(`Lost the connection to box '${this.box.name}' before the run ended (${cut!.message}); its exit code is unknown. ${ps}`);
    else if (code === EXIT_UNKNOWN && unknown === "ended")
      printError(`The stream from box '${this.box.name}' ended before the run's exit code arrived. ${ps}`);
    if (!unknown) for (const message of this.failedDownloads) printError(message);
    return code;
  }
}
