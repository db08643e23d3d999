/**
 * The one loop on the client that turns a streamed answer into frames
 * (docs/api.md "Frames"), each with its payload decoded.
 * @module
 */
import { decodeFrame, FrameDecoder, type TypedFrame } from "../wire/frames.ts";

/** Yields the frames of `response`'s body as they arrive; throws when the stream breaks or holds garbage. */
export async function* readFrames(response: Response): AsyncGenerator<TypedFrame> {
  if (!response.body) return;
  const decoder = new FrameDecoder();
  for await (const chunk of response.body) {
    for (const frame of decoder.push(chunk)) yield decodeFrame(frame);
  }
}
