/**
 * The one loop on the client that turns a streamed answer into frames
 * (docs/api.md "Frames"), each with its payload decoded.
 * @module
 */
import { decodeFrame, Frame, FrameDecoder, type TypedFrame } from "../wire/frames.ts";

/**
 * A frame and the bytes it took on the wire (header and payload), which
 * resuming counts. stdout and stderr come in pieces as their bytes arrive:
 * `rest` is how many bytes of the frame's payload are still to come (0 once
 * it is whole), and `size` the wire bytes of this piece.
 */
export type SizedFrame = TypedFrame & { size: number; rest: number };

/** Output is written out as it comes: its frames are never joined (docs/performance.md "Streaming"). */
const SPLIT = new Set<number>([Frame.stdout, Frame.stderr]);

/** Yields the frames of `response`'s body as they arrive; throws when the stream breaks or holds garbage. */
export async function* readFrames(response: Response): AsyncGenerator<SizedFrame> {
  if (!response.body) return;
  const decoder = new FrameDecoder({ splitTypes: SPLIT });
  for await (const chunk of response.body) {
    for (const frame of decoder.push(chunk)) yield Object.assign(decodeFrame(frame), { size: frame.size, rest: frame.rest });
  }
}
