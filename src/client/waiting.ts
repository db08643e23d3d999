/**
 * Shows a place in a box's waiting line on stderr (docs/locks.md "Waiting in line"):
 * updated in place on a terminal, a new line whenever it changes otherwise.
 * @module
 */
import { KegError } from "../errors.ts";
import { escapeControl } from "../text/escape.ts";
import { Frame, type TypedFrame } from "../wire/frames.ts";
import { remoteError } from "./http.ts";
import { readFrames } from "./read-frames.ts";

export class WaitingDisplay {
  private shown = "";
  /** true from the first place in line until done() */
  waiting = false;
  /** asked at the first place in line: the first touch of process.stderr costs milliseconds */
  private tty = false;

  constructor(private readonly box: string) {}

  /** Handles queue and error frames; false for any other frame. */
  handle(frame: TypedFrame): boolean {
    if (frame.type === Frame.queue) {
      const { position, blocker } = frame.payload;
      if (!this.waiting) this.tty = Boolean(process.stderr.isTTY);
      this.waiting = true;
      const line = `waiting for ${this.box}: #${position} in line${blocker ? `, ${escapeControl(blocker)}` : ""}`;
      if (line !== this.shown) {
        process.stderr.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
        this.shown = line;
      }
      return true;
    }
    if (frame.type === Frame.error) {
      this.done();
      throw remoteError(frame.payload.code, frame.payload.message);
    }
    return false;
  }

  /** Ends the in-place line before other output follows. */
  done(): void {
    if (this.tty && this.shown) process.stderr.write("\n");
    this.shown = "";
    this.waiting = false;
  }
}

/** Reads an answer that waited in line: shows the places, returns the `result` frame's value. */
export async function resultAfterWaiting<T>(boxName: string, response: Response): Promise<T> {
  const display = new WaitingDisplay(boxName);
  for await (const frame of readFrames(response)) {
    if (display.handle(frame)) continue;
    if (frame.type === Frame.result) {
      display.done();
      return frame.payload as T;
    }
  }
  display.done();
  throw new KegError("failed", `The connection to box '${boxName}' ended while waiting in line. Try again.`);
}
