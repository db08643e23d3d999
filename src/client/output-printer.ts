/**
 * Shows the output frames of a run: stdout to stdout, stderr to stderr (with
 * backpressure, so a slow terminal slows the download, not our memory),
 * records decoded on stderr and optionally as JSON lines in a file.
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { once } from "node:events";
import { warn } from "../log.ts";
import { decodeJson, Frame, type DecodedFrame } from "../wire/frames.ts";
import { decodeRecord, formatRecord, recordJsonLine } from "./records.ts";

async function write(stream: NodeJS.WriteStream, data: Uint8Array): Promise<void> {
  if (!stream.write(data)) await once(stream, "drain");
}

export class OutputPrinter {
  private readonly outputFd?: number;

  constructor(outputFile?: string) {
    if (outputFile) this.outputFd = openSync(outputFile, "w");
  }

  /** Shows `frame` if it is output; false for the frames the caller handles. */
  async show(frame: DecodedFrame): Promise<boolean> {
    switch (frame.type) {
      case Frame.stdout:
        await write(process.stdout, frame.payload);
        return true;
      case Frame.stderr:
        await write(process.stderr, frame.payload);
        return true;
      case Frame.record: {
        const record = await decodeRecord(frame.payload[0]!, frame.payload.subarray(1));
        process.stderr.write(`${formatRecord(record)}\n`);
        if (this.outputFd !== undefined) writeSync(this.outputFd, `${recordJsonLine(record)}\n`);
        return true;
      }
      case Frame.dropped:
        warn(`${decodeJson<{ bytes: number }>(frame.payload).bytes} bytes of output were dropped: this client fell more than the box's --log-limit behind.`);
        return true;
      case Frame.keepalive:
        return true;
      default:
        return false;
    }
  }

  close(): void {
    if (this.outputFd !== undefined) closeSync(this.outputFd);
  }
}
