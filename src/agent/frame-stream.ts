/**
 * Streamed responses of frames. The body is pull-based: the generator runs at
 * the client's pace (real backpressure). An error after the stream began goes
 * out as an `error` frame, since the status line is already sent.
 * @module
 */
import { KegError } from "../errors.ts";
import { encodeJsonFrame, Frame, type QueuePlace } from "../wire/frames.ts";
import { describeError, logEvent } from "./log.ts";

export const frameHeaders = { "content-type": "application/vnd.keg.frames", "cache-control": "no-store" };

export function frameStream(frames: AsyncGenerator<Uint8Array, unknown>, onGone: () => void = () => {}): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await frames.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          const known = error instanceof KegError ? error : new KegError("failed", `Internal error: ${(error as Error).message}`);
          if (!(error instanceof KegError)) logEvent("error", { during: "a streamed answer", cause: describeError(error) });
          controller.enqueue(encodeJsonFrame(Frame.error, { code: known.code, message: known.message }));
          controller.close();
        }
      },
      cancel() {
        onGone();
        void frames.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Turns a line's position updates into `queue` frames; returns what the wait returned. */
export async function* queueFrames<T>(waiting: AsyncGenerator<QueuePlace, T>): AsyncGenerator<Uint8Array, T> {
  for (;;) {
    const next = await waiting.next();
    if (next.done) return next.value;
    yield encodeJsonFrame(Frame.queue, next.value);
  }
}
