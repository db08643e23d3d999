/**
 * A run's framed output on disk, so a slow client neither blocks the script
 * nor grows the agent's memory (docs/usage.md "Runs"). The writer appends
 * whole frames to segment files named by their starting byte offset and
 * deletes the oldest segments beyond the log limit; a reader that falls behind
 * a deleted segment learns how many bytes it missed. Segments always start on
 * a frame boundary.
 * @module
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeSync, writevSync } from "node:fs";
import { join } from "node:path";
import { HEADER_BYTES } from "../wire/frames.ts";

const PREFIX = "out.";
const segmentName = (start: number) => `${PREFIX}${String(start).padStart(16, "0")}`;

type Segment = { start: number; path: string };

/** The segments, oldest first; none when the folder is gone (a script may delete it when it runs with the agent's rights). */
function listSegments(dir: string): Segment[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(PREFIX))
    .sort()
    .map((name) => ({ start: Number(name.slice(PREFIX.length)), path: join(dir, name) }));
}

function writeFully(fd: number, data: Uint8Array): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written);
}

export class SpoolWriter {
  private segments: { start: number; path: string; fd: number }[] = [];
  private offset = 0;
  private readonly segmentBytes: number;

  constructor(
    private readonly dir: string,
    private readonly limitBytes: number,
  ) {
    this.segmentBytes = Math.max(256 * 1024, Math.floor(limitBytes / 8));
    this.openSegment();
  }

  private openSegment(): void {
    const path = join(this.dir, segmentName(this.offset));
    // The folder is made again if something deleted it: output goes on, readers see a gap.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.segments.push({ start: this.offset, path, fd: openSync(path, "w", 0o600) });
  }

  /** The segment to append to, a new one once the current is full. */
  private segmentFd(): number {
    const current = this.segments.at(-1)!;
    if (this.offset - current.start < this.segmentBytes) return current.fd;
    closeSync(current.fd);
    this.openSegment();
    this.dropOld();
    return this.segments.at(-1)!.fd;
  }

  /** Appends whole frames (one or more, concatenated). */
  append(frames: Uint8Array): void {
    const fd = this.segmentFd();
    writeFully(fd, frames);
    this.offset += frames.length;
  }

  /** Appends one frame without copying its payload. */
  appendFrame(type: number, payload: Uint8Array): void {
    const fd = this.segmentFd();
    const header = new Uint8Array(HEADER_BYTES);
    header[0] = type;
    new DataView(header.buffer).setUint32(1, payload.length);
    const written = writevSync(fd, [header, payload]);
    if (written < HEADER_BYTES) writeFully(fd, header.subarray(written));
    if (written < HEADER_BYTES + payload.length) writeFully(fd, payload.subarray(Math.max(0, written - HEADER_BYTES)));
    this.offset += HEADER_BYTES + payload.length;
  }

  private dropOld(): void {
    // Keep the newest segments whose sizes add up to the limit (at least two).
    while (this.segments.length > 2 && this.offset - this.segments[1]!.start > this.limitBytes) {
      const old = this.segments.shift()!;
      try {
        unlinkSync(old.path);
      } catch {} // already gone with its folder
    }
  }

  /**
   * Starts a new segment if the current one was deleted from under us (a
   * script with the agent's rights removed the folder): what follows, the
   * exit frame above all, is then seen again, after a gap readers are told of.
   */
  reopenIfGone(): void {
    const current = this.segments.at(-1)!;
    if (existsSync(current.path)) return;
    closeSync(current.fd);
    this.segments = [];
    this.openSegment();
  }

  close(): void {
    closeSync(this.segments.at(-1)!.fd);
  }
}

export type SpoolRead = { dropped: number; data: Uint8Array | null };

/**
 * Reads a spool from a byte offset, returning whole frames only, so a jump
 * over deleted segments always lands on a frame boundary. The segment being
 * read stays open between reads: the folder is listed again only once it has
 * nothing new (a listing, an open and a close per 256 KiB were a fifth of the
 * agent's work streaming 1 GiB). A reader holding a segment the writer has
 * dropped meanwhile reads it to its end first: more output, never less. Call
 * `close()` when done.
 */
export class SpoolReader {
  offset: number;
  private current?: { start: number; fd: number };
  private buffer?: Buffer;

  /**
   * `reuseBuffer`: every read fills the same buffer, so a read's data is
   * valid only until the next read. For data handed straight to a response
   * whose server copies it before the next pull (`responseCopiesChunks`:
   * Bun's listener, not Deno's, nor an in-process `app.request`): 1 GiB to a
   * fast reader then leaves no 256 KiB buffer per read to the collector
   * (docs/performance.md "Memory and streaming").
   */
  constructor(
    private readonly dir: string,
    from = 0,
    private readonly options: { reuseBuffer?: boolean } = {},
  ) {
    this.offset = from;
  }

  private bufferOf(size: number): Buffer {
    if (!this.options.reuseBuffer) return Buffer.allocUnsafe(size);
    if (!this.buffer || this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size);
    return this.buffer;
  }

  /** Up to `max` bytes of whole frames; data null when nothing new is there yet. */
  read(max = 256 * 1024): SpoolRead {
    const data = this.current && this.readCurrent(max);
    if (data) return { dropped: 0, data };
    // Nothing new where we are: the next segment, a jump over dropped ones, or the same file made
    // again (a script may delete the folder), so the listing decides and the segment is opened anew.
    this.close();
    const segments = listSegments(this.dir);
    if (!segments.length) return { dropped: 0, data: null };
    let dropped = 0;
    if (this.offset < segments[0]!.start) {
      dropped = segments[0]!.start - this.offset;
      this.offset = segments[0]!.start;
    }
    const segment = segments.findLast((s) => s.start <= this.offset)!;
    try {
      this.current = { start: segment.start, fd: openSync(segment.path, "r") };
    } catch {
      return { dropped, data: null }; // deleted under us: the next read jumps
    }
    return { dropped, data: this.readCurrent(max) ?? null };
  }

  close(): void {
    if (!this.current) return;
    closeSync(this.current.fd);
    this.current = undefined;
  }

  /** Whole frames from the open segment at the offset; undefined when it has none (yet). */
  private readCurrent(max: number): Uint8Array | undefined {
    const { start, fd } = this.current!;
    const at = this.offset - start;
    const buffer = this.bufferOf(max);
    const got = readSync(fd, buffer, 0, max, at);
    const whole = wholeFrames(buffer.subarray(0, got));
    if (whole > 0) {
      this.offset += whole;
      return buffer.subarray(0, whole);
    }
    // A frame bigger than `max`: read it in one go once it is all there.
    const need = got === max ? frameLength(buffer.subarray(0, got)) : undefined;
    if (need === undefined) return undefined;
    const big = Buffer.allocUnsafe(need);
    if (readSync(fd, big, 0, need, at) < need) return undefined;
    this.offset += need;
    return big;
  }
}

function frameLength(data: Uint8Array): number | undefined {
  if (data.length < HEADER_BYTES) return undefined;
  return HEADER_BYTES + new DataView(data.buffer, data.byteOffset).getUint32(1);
}

/** How many leading bytes of `data` make whole frames. */
export function wholeFrames(data: Uint8Array): number {
  let offset = 0;
  for (;;) {
    const length = frameLength(data.subarray(offset));
    if (length === undefined || offset + length > data.length) return offset;
    offset += length;
  }
}

/**
 * Whether a follower may resume reading at `offset`: a frame boundary the
 * spool has reached, or a point before its oldest kept segment (the reader
 * then reports the gap as dropped).
 */
export function isResumeOffset(dir: string, offset: number): boolean {
  const segments = listSegments(dir);
  if (!segments.length || offset <= segments[0]!.start) return true;
  const segment = segments.findLast((s) => s.start <= offset)!;
  let data: Buffer;
  try {
    data = readFileSync(segment.path);
  } catch {
    return true; // deleted under us: the reader jumps over the gap
  }
  const at = offset - segment.start;
  return at <= data.length && wholeFrames(data.subarray(0, at)) === at;
}
