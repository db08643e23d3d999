/**
 * The one loop on the client that turns a streamed answer into frames
 * (docs/api.md "Frames"), each with its payload decoded.
 * @module
 */
import { decodeFrame, FrameDecoder, HEADER_BYTES, type TypedFrame } from "../wire/frames.ts";

/** A frame and the bytes it took on the wire (header and payload), which resuming counts. */
export type SizedFrame = TypedFrame & { size: number };

/** Yields the frames of `response`'s body as they arrive; throws when the stream breaks or holds garbage. */
export async function* readFrames(response: Response): AsyncGenerator<SizedFrame> {
  if (!response.body) return;
  const decoder = new FrameDecoder();
  for await (const chunk of response.body) {
    for (const frame of decoder.push(chunk)) yield Object.assign(decodeFrame(frame), { size: HEADER_BYTES + frame.payload.length });
  }
}
