/**
 * Shows the output frames of a run: stdout to stdout, stderr to stderr (with
 * backpressure, so a slow terminal slows the download, not our memory),
 * records decoded on stderr and optionally as JSON lines in a file.
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { warn } from "../log.ts";
import { Frame, type TypedFrame } from "../wire/frames.ts";

/**
 * A run that prints this much to stdout is a bulk stream: keg widens a pipe
 * there (docs/performance.md "Into a pipe, an early connection, and a new machine").
 */
const WIDEN_AFTER_BYTES = 1024 * 1024;

export class OutputPrinter {
  private readonly outputFd?: number;
  /** set once our stdout's reader went away (`keg … | head`) */
  stdoutGone = false;

  /** `onStdoutGone` runs once when our stdout's reader goes away (EPIPE). */
  constructor(outputFile?: string, private readonly onStdoutGone: () => void = () => {}) {
    if (outputFile) this.outputFd = openSync(outputFile, "w");
  }

  /**
   * The error listener goes on with the first output: the first touch of
   * process.stdout costs milliseconds, which a run that prints nothing (or
   * only later) should not pay before its request leaves (docs/performance.md
   * "Run overhead"). Only a write can fail with EPIPE.
   */
  private listening = false;
  private stdout(): NodeJS.WriteStream {
    if (!this.listening) {
      this.listening = true;
      process.stdout.on("error", this.stdoutError);
    }
    return process.stdout;
  }

  private stdoutError = (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE" || this.stdoutGone) return;
    this.stdoutGone = true;
    this.onStdoutGone();
  };

  /** Bytes written to stdout until it is widened (`widenStdoutPipe`), which only a bulk stream is worth. */
  private toWiden = WIDEN_AFTER_BYTES;

  private async write(stream: NodeJS.WriteStream, data: Uint8Array): Promise<void> {
    if (stream === process.stdout) {
      if (this.stdoutGone) return;
      if (this.toWiden > 0 && (this.toWiden -= data.length) <= 0) (await import("../platform/index.ts")).widenStdoutPipe();
    }
    if (stream.write(data)) return;
    // Wait for drain, or for an error (EPIPE) that means no drain will come.
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off("drain", done);
        stream.off("error", done);
        resolve();
      };
      stream.on("drain", done);
      stream.on("error", done);
    });
  }

  /** Shows `frame` if it is output; false for the frames the caller handles. */
  async show(frame: TypedFrame): Promise<boolean> {
    switch (frame.type) {
      case Frame.stdout:
        await this.write(this.stdout(), frame.payload);
        return true;
      case Frame.stderr:
        await this.write(process.stderr, frame.payload);
        return true;
      case Frame.record: {
        // The decoders (pickle, YAML) load with the first record: most runs send none.
        const { decodeRecord, formatRecord, recordJsonLine } = await import("./records.ts");
        const record = await decodeRecord(frame.payload[0]!, frame.payload.subarray(1));
        process.stderr.write(`${formatRecord(record)}\n`);
        if (this.outputFd !== undefined) writeSync(this.outputFd, `${recordJsonLine(record)}\n`);
        return true;
      }
      case Frame.dropped:
        warn(`${frame.payload.bytes} bytes of output were dropped: this client fell more than the box's --log-limit behind.`);
        return true;
      case Frame.keepalive:
        return true;
      default:
        return false;
    }
  }

  close(): void {
    if (this.listening) process.stdout.off("error", this.stdoutError);
    if (this.outputFd !== undefined) closeSync(this.outputFd);
  }
}
