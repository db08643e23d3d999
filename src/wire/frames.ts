/**
 * The binary frames of a run's output stream (docs/api.md): a 1-byte type,
 * a 4-byte big-endian payload length, then the payload. The same layout, with
 * the encoder as the type byte, carries records on the script's channel
 * (fd 3). Pure code: no I/O.
 * @module
 */
export const Frame = {
  stdout: 1,
  stderr: 2,
  /** payload: 1 byte encoder (1 raw, 2 pickle, 3 json, 4 yaml), then the encoded value */
  record: 3,
  keepalive: 4,
  /** JSON: { code, signal, status } */
  exit: 5,
  /** JSON: { bytes }: output the client fell too far behind to receive */
  dropped: 6,
  /** JSON: { id, generation, ... }: the run started */
  started: 7,
  /** JSON: { path, local, size }: a download begins; gzip chunks follow as file_data */
  file: 8,
  file_data: 9,
  /** JSON: { path, ok, error? }: a download ended */
  file_end: 10,
  /** JSON: { position, holder }: waiting in line for the box */
  queue: 11,
  /** JSON: { released, error? }: the cycle is over (lock released, hook run) */
  end: 12,
  /** JSON: the answer of a request that waited in line (e.g. `boxes lock --wait`) */
  result: 13,
  /** JSON: { code, message }: the request failed after its stream began */
  error: 14,
} as const;
export type FrameType = (typeof Frame)[keyof typeof Frame];

export const HEADER_BYTES = 5;
/** Largest payload accepted: one record of up to 16 MiB plus its encoder byte. */
export const MAX_PAYLOAD = 16 * 1024 * 1024 + 1;

const knownTypes = new Set<number>(Object.values(Frame));

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

export const encodeJsonFrame = (type: number, value: unknown) => encodeFrame(type, encoder.encode(JSON.stringify(value)));

export const decodeJson = <T = any>(payload: Uint8Array): T => JSON.parse(decoder.decode(payload)) as T;

export type DecoderOptions = { maxPayload?: number; isKnownType?: (type: number) => boolean };

/**
 * Incremental decoder: push chunks as they arrive, get whole frames back.
 * Throws FrameError on an unknown type or an oversized length (garbage).
 */
export class FrameDecoder {
  private buffer = new Uint8Array(0);
  private readonly maxPayload: number;
  private readonly isKnownType: (type: number) => boolean;

  constructor(options: DecoderOptions = {}) {
    this.maxPayload = options.maxPayload ?? MAX_PAYLOAD;
    this.isKnownType = options.isKnownType ?? ((type) => knownTypes.has(type));
  }

  /** Bytes received that do not yet make a whole frame. */
  get pending(): number {
    return this.buffer.length;
  }

  push(chunk: Uint8Array): DecodedFrame[] {
    let data = chunk;
    if (this.buffer.length) {
      data = new Uint8Array(this.buffer.length + chunk.length);
      data.set(this.buffer);
      data.set(chunk, this.buffer.length);
    }
    const frames: DecodedFrame[] = [];
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const type = data[offset]!;
      const length = view.getUint32(offset + 1);
      if (!this.isKnownType(type)) throw new FrameError(`unknown frame type ${type}`);
      if (length > this.maxPayload) throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxPayload}`);
      if (data.length - offset - HEADER_BYTES < length) break;
      // A view, not a copy: chunks are never reused, and copying halves the throughput.
      frames.push({ type, payload: data.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length) });
      offset += HEADER_BYTES + length;
    }
    this.buffer = offset === data.length ? new Uint8Array(0) : data.slice(offset);
    return frames;
  }
}
