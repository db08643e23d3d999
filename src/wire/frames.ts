/**
 * The binary frames of a run's output stream (docs/api.md "Frames"): a 1-byte
 * type, a 4-byte big-endian payload length, then the payload. The same layout,
 * with the encoder as the type byte, carries records on the script's channel
 * (fd 3). Pure code: no I/O.
 * @module
 */
import { joinBytes } from "../bytes.ts";
import type { ErrorCode } from "../errors.ts";

export const Frame = {
  stdout: 1,
  stderr: 2,
  record: 3,
  keepalive: 4,
  exit: 5,
  dropped: 6,
  started: 7,
  file: 8,
  file_data: 9,
  file_end: 10,
  queue: 11,
  end: 12,
  result: 13,
  error: 14,
} as const;
export type FrameName = keyof typeof Frame;
export type FrameType = (typeof Frame)[FrameName];

/** `exit`: how the run ended. */
export type ExitInfo = {
  /** the exit code; 128+N when killed by signal N, 124/137 after --timeout */
  code: number;
  signal: string | null;
  /** "exited" by itself, "killed" by a signal, "timeout" */
  status: "exited" | "killed" | "timeout";
  /** ISO time */
  ended: string;
};

/**
 * `started`: the run started; heartbeat its generation every `keepalive` s
 * unless `forced`. After a dropped connection the box keeps the run for
 * `reconnect_grace` s (absent from older agents).
 */
export type StartedInfo = { id: string; generation: number; keepalive: number; forced: boolean; reconnect_grace?: number };

/** `file`: a download begins; `gzip` says the file itself is gzip (sent as it is). */
export type FileInfo = { path: string; size: number; gzip: boolean };

/** `file_end`: a download ended, whole or not. */
export type FileEnd = { path: string; ok: boolean; error?: string };

/** `queue`: a place in the box's waiting line and what holds the box. */
export type QueuePlace = { position: number; blocker: string };

/** `end`: the cycle is over (post-run hook run, lock released). */
export type CycleEnd = { released: boolean };

/** `error`: the request failed after its stream began. */
export type ErrorFrame = { code: ErrorCode; message: string };

/** The payload of each frame type: bytes, or the value its JSON holds. */
export type FramePayloads = {
  [Frame.stdout]: Uint8Array;
  [Frame.stderr]: Uint8Array;
  /** 1 byte encoder (1 raw, 2 pickle, 3 JSON, 4 YAML), then the encoded value */
  [Frame.record]: Uint8Array;
  /** sent after --keepalive seconds of silence */
  [Frame.keepalive]: Record<string, never>;
  [Frame.exit]: ExitInfo;
  /** output this client fell too far behind to get */
  [Frame.dropped]: { bytes: number };
  [Frame.started]: StartedInfo;
  [Frame.file]: FileInfo;
  /** gzip bytes of the current download */
  [Frame.file_data]: Uint8Array;
  [Frame.file_end]: FileEnd;
  [Frame.queue]: QueuePlace;
  [Frame.end]: CycleEnd;
  /** the answer of a request that waited in line (`boxes lock --wait`: `{ message, lock }`; a detached run: `{ id }`) */
  [Frame.result]: unknown;
  [Frame.error]: ErrorFrame;
};

/** The frame types whose payload is bytes; every other one carries JSON. */
export type BytesFrameType = typeof Frame.stdout | typeof Frame.stderr | typeof Frame.record | typeof Frame.file_data;
export type JsonFrameType = Exclude<FrameType, BytesFrameType>;

/** A frame with its payload decoded; `switch (frame.type)` narrows the payload. */
export type FrameOf<T extends FrameType> = { type: T; payload: FramePayloads[T] };
export type TypedFrame = { [T in FrameType]: FrameOf<T> }[FrameType];

export const HEADER_BYTES = 5;

/**
 * The frames a run's spool holds, so the bytes of these frames received (plus
 * the bytes a `dropped` frame skipped) are the offset a follower resumes at
 * (docs/api.md "Resuming").
 */
export const SPOOLED_FRAMES: ReadonlySet<number> = new Set([Frame.stdout, Frame.stderr, Frame.record, Frame.exit]);
/** Largest payload accepted: one record of up to 16 MiB plus its encoder byte. */
export const MAX_PAYLOAD = 16 * 1024 * 1024 + 1;

const knownTypes = new Set<number>(Object.values(Frame));
const bytesTypes = new Set<number>([Frame.stdout, Frame.stderr, Frame.record, Frame.file_data]);

/** A frame as the decoder cuts it out of the stream: its type byte and raw payload. */
export type DecodedFrame = { type: number; payload: Uint8Array };

export class FrameError extends Error {}

export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > MAX_PAYLOAD) throw new FrameError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  frame[0] = type;
  new DataView(frame.buffer).setUint32(1, payload.length);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeJsonFrame = <T extends JsonFrameType>(type: T, value: FramePayloads[T]) => encodeFrame(type, encoder.encode(JSON.stringify(value)));

/** Untyped JSON of a payload; prefer decodeFrame, which knows each frame's type. */
export const decodeJson = <T = unknown>(payload: Uint8Array): T => JSON.parse(decoder.decode(payload)) as T;

/** Gives a frame of a known type its payload type: bytes stay bytes (a view, no copy), JSON is parsed. */
export function decodeFrame(frame: DecodedFrame): TypedFrame {
  if (!knownTypes.has(frame.type)) throw new FrameError(`unknown frame type ${frame.type}`);
  const payload = bytesTypes.has(frame.type) ? frame.payload : decodeJson(frame.payload);
  return { type: frame.type, payload } as TypedFrame;
}

export type DecoderOptions = {
  maxPayload?: number;
  isKnownType?: (type: number) => boolean;
  /**
   * Frames of these types are handed out in pieces as their bytes arrive,
   * never joined (stdout and stderr, which are written out as they come:
   * joining a frame that spans chunks was a copy and a fresh buffer for
   * nearly every byte of a fast stream, docs/performance.md "Streaming").
   */
  splitTypes?: ReadonlySet<number>;
};

/**
 * A frame or, of a split type, a piece of one: `size` is the bytes of the
 * stream it took (a split frame's header counts with its first piece), `rest`
 * the payload bytes of the frame still to come (0: the frame is whole now).
 */
export type DecodedPiece = DecodedFrame & { size: number; rest: number };

/**
 * Incremental decoder: push chunks as they arrive, get whole frames back (and
 * pieces of the `splitTypes`). Throws FrameError on an unknown type or an
 * oversized length (garbage) as soon as a frame's header is in. A frame
 * inside one chunk is a view of it; one that spans chunks is copied once,
 * when its last byte is in (chunks are kept as they came until then), unless
 * its type is split: each piece is then a view of its chunk.
 */
export class FrameDecoder {
  /** the bytes of the frame under way, as they came */
  private parts: Uint8Array[] = [];
  private held = 0;
  /** bytes the frame under way needs in all: its header until that is in */
  private needed = HEADER_BYTES;
  /** a split frame under way: its type, the payload bytes still to come, the header bytes its next piece counts */
  private piece?: { type: number; rest: number; header: number };
  private readonly maxPayload: number;
  private readonly isKnownType: (type: number) => boolean;
  private readonly splitTypes: ReadonlySet<number>;

  constructor(options: DecoderOptions = {}) {
    this.maxPayload = options.maxPayload ?? MAX_PAYLOAD;
    this.isKnownType = options.isKnownType ?? ((type) => knownTypes.has(type));
    this.splitTypes = options.splitTypes ?? new Set();
  }

  /** Bytes received that are not handed out yet (the part of a frame that is still held). */
  get pending(): number {
    return this.held;
  }

  push(chunk: Uint8Array): DecodedPiece[] {
    const frames: DecodedPiece[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.piece) at += this.givePiece(chunk.subarray(at), frames);
      else if (this.held) at += this.fillHeld(chunk.subarray(at), frames);
      else at += this.cutWhole(chunk.subarray(at), frames);
    }
    return frames;
  }

  /** The next piece of the split frame under way, from the start of `data`; the bytes it took. */
  private givePiece(data: Uint8Array, frames: DecodedPiece[]): number {
    const piece = this.piece!;
    const take = Math.min(piece.rest, data.length);
    piece.rest -= take;
    frames.push({ type: piece.type, payload: data.subarray(0, take), size: piece.header + take, rest: piece.rest });
    piece.header = 0;
    if (piece.rest === 0) this.piece = undefined;
    return take;
  }

  /** Adds to the held frame what it still needs of `data`, handing it out once whole; the bytes it took. */
  private fillHeld(data: Uint8Array, frames: DecodedPiece[]): number {
    const take = Math.min(this.needed - this.held, data.length);
    this.hold(data.subarray(0, take));
    if (this.held >= HEADER_BYTES && this.held === this.needed) {
      // Held from an earlier chunk and completed by this one: at least two parts.
      const frame = joinBytes(this.parts, this.held);
      this.release();
      frames.push({ type: frame[0]!, payload: frame.subarray(HEADER_BYTES), size: frame.length, rest: 0 });
    } else this.startPieceIfSplit(frames);
    return take;
  }

  /** Whole frames at the start of `data` as views; a partial one at its end is held (or, split, begun). Takes all of `data`. */
  private cutWhole(data: Uint8Array, frames: DecodedPiece[]): number {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const type = data[offset]!;
      const length = this.checkHeader(type, view.getUint32(offset + 1));
      if (data.length - offset - HEADER_BYTES < length) break;
      // A view, not a copy: chunks are never reused, and copying halves the throughput.
      frames.push({ type, payload: data.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length), size: HEADER_BYTES + length, rest: 0 });
      offset += HEADER_BYTES + length;
    }
    if (offset < data.length) {
      this.hold(data.subarray(offset));
      this.startPieceIfSplit(frames);
    }
    return data.length;
  }

  /**
   * A held frame of a split type whose header is in: its held bytes (the
   * header, maybe payload) become its first pieces; the rest comes by givePiece.
   */
  private startPieceIfSplit(frames: DecodedPiece[]): void {
    if (this.held < HEADER_BYTES || !this.splitTypes.has(this.parts[0]![0]!)) return;
    const type = this.parts[0]![0]!;
    const piece = (this.piece = { type, rest: this.needed - this.held, header: HEADER_BYTES });
    let skip = HEADER_BYTES;
    let heldPayload = this.held - HEADER_BYTES;
    for (const part of this.parts) {
      const payload = part.subarray(Math.min(skip, part.length));
      skip -= part.length - payload.length;
      if (!payload.length) continue;
      heldPayload -= payload.length;
      frames.push({ type, payload, size: piece.header + payload.length, rest: piece.rest + heldPayload });
      piece.header = 0;
    }
    this.release();
  }

  /** Keeps a partial frame's bytes; once its header is in, checks it and how much the frame needs. */
  private hold(part: Uint8Array): void {
    const hadHeader = this.held >= HEADER_BYTES;
    this.parts.push(part);
    this.held += part.length;
    if (hadHeader || this.held < HEADER_BYTES) return;
    const header = this.parts.length === 1 ? part : joinBytes(this.parts, HEADER_BYTES);
    this.needed = HEADER_BYTES + this.checkHeader(header[0]!, new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(1));
  }

  /** Forgets the held frame: it was handed out. */
  private release(): void {
    this.parts = [];
    this.held = 0;
    this.needed = HEADER_BYTES;
  }

  /** A frame header's payload length; throws on garbage. */
  private checkHeader(type: number, length: number): number {
    if (!this.isKnownType(type)) throw new FrameError(`unknown frame type ${type}`);
    if (length > this.maxPayload) throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxPayload}`);
    return length;
  }
}

