/**
 * Following a stream across connection blips (docs/usage.md "Connection
 * blips"). The bytes of the run's spooled frames received, plus the bytes a
 * `dropped` frame skipped, are the output offset; when the stream breaks
 * before its `end` frame, keg reconnects with backoff and resumes at that
 * offset, so every byte arrives once and in order (docs/api.md "Resuming").
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { warn } from "../log.ts";
import { Frame, FrameError, SPOOLED_FRAMES, type StartedInfo, type TypedFrame } from "../wire/frames.ts";
import { request } from "./http.ts";
import { readFrames, type SizedFrame } from "./read-frames.ts";

/** The box's `serve --reconnect-grace` when it does not say (an older agent). */
export const DEFAULT_GRACE_SECONDS = 15;
/** keg keeps trying this long beyond the box's grace, to learn how the run ended. */
const EXTRA_TRY_MS = 5000;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 1000;
/** Each attempt waits this long for the answer's headers. */
const ATTEMPT_TIMEOUT_MS = 3000;

/** The box answered the reconnection with a refusal: the run cannot be followed any more (its message says why). */
export class ResumeRefused extends Error {
  constructor(readonly refusal: KegError) {
    super(refusal.message);
  }
}

export type ResumeEvents = {
  /** the stream broke and keg is about to reconnect (partial downloads are void: they are sent again) */
  onBreak?: () => void;
  /** a reconnection was answered; the stream goes on */
  onResumed?: () => void;
};

type Reopen = (from: number) => Promise<Response>;

export class ResumableStream {
  /** bytes of the run's output received in whole frames: where a reconnection resumes */
  offset = 0;
  /**
   * The output frame under way (it comes in pieces): its wire bytes and
   * payload bytes received on this connection, and its payload bytes handed
   * out on any. A reconnection resumes at the frame's start, so what was
   * handed out of it already is not handed out twice.
   */
  private readonly part = { size: 0, received: 0, shown: 0 };
  private ended = false;
  private reopen?: Reopen;
  private windowMs = (DEFAULT_GRACE_SECONDS * 1000) + EXTRA_TRY_MS;

  constructor(
    private readonly box: Pick<Box, "name" | "address" | "token">,
    private readonly events: ResumeEvents = {},
  ) {}

  /** An attached run: once `started` came, a break resumes its cycle (POST /v1/runs/:id/resume). */
  resumeCycle(started: StartedInfo): void {
    const { id, generation } = started;
    this.windowMs = (started.reconnect_grace ?? DEFAULT_GRACE_SECONDS) * 1000 + EXTRA_TRY_MS;
    this.reopen = (from) =>
      request(this.box, `/v1/runs/${id}/resume`, {
        method: "POST",
        body: JSON.stringify({ generation, from }),
        headers: { "content-type": "application/json" },
        timeoutMs: ATTEMPT_TIMEOUT_MS,
      });
  }

  /** `--reattach`: a break follows the run's output again from the offset. */
  resumeOutput(id: string): void {
    this.reopen = (from) => request(this.box, `/v1/runs/${encodeURIComponent(id)}/output?from=${from}`, { timeoutMs: ATTEMPT_TIMEOUT_MS });
  }

  /**
   * The frames of `first` and of every reconnection after it, as one stream.
   * Throws the break when it cannot resume (nothing to resume yet, or no
   * answer within the window), ResumeRefused when the box refuses.
   */
  async *frames(first: Response): AsyncGenerator<TypedFrame> {
    let response = first;
    for (;;) {
      let broke: Error | undefined;
      try {
        for await (const frame of readFrames(response)) {
          const fresh = this.count(frame);
          if (fresh) yield fresh;
        }
      } catch (error) {
        // A refusal, or garbage in the stream: nothing a reconnection mends.
        if (error instanceof KegError || error instanceof FrameError) throw error;
        broke = error as Error;
      }
      if (this.ended || !this.reopen) {
        if (broke) throw broke;
        return;
      }
      response = await this.reconnect(broke ?? new Error("the stream ended early"));
      // The new stream starts at the cut frame's start: what of it was shown stays counted.
      this.startPart(this.part.shown);
    }
  }

  /** Counts `frame` into the offset; what of it to hand out (nothing when all of it was, before a reconnection). */
  private count(frame: SizedFrame): TypedFrame | undefined {
    if (SPOOLED_FRAMES.has(frame.type)) {
      const part = this.part;
      part.size += frame.size;
      let fresh: TypedFrame | undefined = frame;
      if (frame.type === Frame.stdout || frame.type === Frame.stderr) {
        const seen = Math.max(0, Math.min(frame.payload.length, part.shown - part.received));
        part.received += frame.payload.length;
        part.shown = Math.max(part.shown, part.received);
        if (seen === frame.payload.length && seen > 0) fresh = undefined;
        else if (seen) fresh = { type: frame.type, payload: frame.payload.subarray(seen) };
      }
      if (frame.rest === 0) {
        this.offset += part.size;
        this.startPart(0);
      }
      return fresh;
    }
    if (frame.type === Frame.dropped) {
      this.offset += frame.payload.bytes;
      // The frame under way was dropped with the rest: what of it was shown is not missing.
      const shown = this.part.shown;
      this.startPart(0);
      return shown ? { type: Frame.dropped, payload: { bytes: Math.max(0, frame.payload.bytes - shown) } } : frame;
    }
    if (frame.type === Frame.end || frame.type === Frame.error) this.ended = true;
    return frame;
  }

  /** The next bytes received begin an output frame, `shown` bytes of whose payload were already handed out. */
  private startPart(shown: number): void {
    this.part.size = 0;
    this.part.received = 0;
    this.part.shown = shown;
  }

  private async reconnect(cause: Error): Promise<Response> {
    const deadline = Date.now() + this.windowMs;
    this.events.onBreak?.();
    // On a terminal only: a log keeps the one line that says how it ended.
    if (process.stderr.isTTY) warn(`Lost the connection to box '${this.box.name}' (${cause.message}); reconnecting.`);
    let delay = FIRST_DELAY_MS;
    for (;;) {
      try {
        const response = await this.reopen!(this.offset);
        this.events.onResumed?.();
        return response;
      } catch (error) {
        if (error instanceof KegError && error.code !== "unreachable") throw new ResumeRefused(error);
        if (Date.now() + delay > deadline)
          throw new Error(`${cause.message}; no answer when reconnecting for ${Math.round(this.windowMs / 1000)} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
