/**
 * Shows a place in a box's waiting line on stderr (SPEC §5 "Waiting"):
 * updated in place on a terminal, a new line whenever it changes otherwise.
 * @module
 */
import { isErrorCode, KegError } from "../errors.ts";
import { decodeJson, Frame, FrameDecoder, type DecodedFrame } from "../wire/frames.ts";

export class WaitingDisplay {
  private shown = "";
  /** true from the first place in line until done() */
  waiting = false;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly box: string) {}

  /** Handles queue and error frames; false for any other frame. */
  handle(frame: DecodedFrame): boolean {
    if (frame.type === Frame.queue) {
      const { position, blocker } = decodeJson<{ position: number; blocker: string }>(frame.payload);
      this.waiting = true;
      const line = `waiting for ${this.box}: #${position} in line${blocker ? `, ${blocker}` : ""}`;
      if (line !== this.shown) {
        process.stderr.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
        this.shown = line;
      }
      return true;
    }
    if (frame.type === Frame.error) {
      this.done();
      const { code, message } = decodeJson<{ code: string; message: string }>(frame.payload);
      throw new KegError(isErrorCode(code) ? code : "failed", message);
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
  const decoder = new FrameDecoder();
  for await (const chunk of response.body!) {
    for (const frame of decoder.push(chunk)) {
      if (display.handle(frame)) continue;
      if (frame.type === Frame.result) {
        display.done();
        return decodeJson<T>(frame.payload);
      }
    }
  }
  display.done();
  throw new KegError("failed", `The connection to box '${boxName}' ended while waiting in line. Try again.`);
}
