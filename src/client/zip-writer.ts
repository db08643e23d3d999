/**
 * A minimal zip writer for the upload (docs/performance.md "Run overhead"):
 * entries stored or already deflated by the caller, UTF-8 names, Unix modes,
 * no zip64 (the box's upload limit is far below 4 GiB). It replaces fflate on
 * the CLI's run path, whose module set-up alone (tables, a `worker_threads`
 * probe) cost more than the rest of the CLI before its request; the entries'
 * times are fixed, so no local time zone is loaded either (the box does not
 * use them: files get the time they are unpacked).
 * @module
 */

/** 1980-01-01 00:00, the earliest DOS date: the same for every entry. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
/** bit 3: sizes and checksum follow the data (a file streamed in pieces); bit 11: the name is UTF-8 */
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
/** made by Unix (3), zip 2.0 */
const MADE_BY = (3 << 8) | 20;
const NEEDED = 20;
const MAX_32 = 0xffffffff;

let crcTable: Int32Array | undefined;

/** CRC-32 (zip's) of `data`, continuing from `crc`. */
export function crc32(data: Uint8Array, crc = 0): number {
  const table = (crcTable ??= makeCrcTable());
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 is linear (crc[a ^ b] = crc[a] ^ crc[b]): 8 entries worked out, the rest XORed, a fifth of the work at a cold start. */
function makeCrcTable(): Int32Array {
  const table = new Int32Array(256);
  for (let bit = 1; bit < 256; bit <<= 1) {
    let c = bit;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[bit] = c;
  }
  for (let n = 3; n < 256; n++) if (n & (n - 1)) table[n] = table[n & (n - 1)]! ^ table[n & -n]!;
  return table;
}

export type ZipEntryInfo = {
  /** the name in the zip; a directory's ends with `/` */
  name: string;
  /** st_mode-style type and permission bits, e.g. 0o100644 or 0o40755 */
  mode: number;
};

type Central = { name: Uint8Array; flags: number; method: number; crc: number; compressed: number; size: number; offset: number; mode: number; dir: boolean };

/**
 * Builds a zip as a list of chunks (never copied into one buffer): local
 * headers, data, then the central directory at `finish()`.
 */
export class ZipWriter {
  readonly chunks: Uint8Array[] = [];
  private offset = 0;
  private readonly central: Central[] = [];
  private readonly encoder = new TextEncoder();

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.offset += chunk.length;
  }

  private checkSize(bytes: number, name: string): void {
    if (this.offset + bytes > MAX_32) throw new RangeError(`the upload is over 4 GiB at '${name}'`);
  }

  /**
   * An entry whose data is known: `data` as it goes into the zip, stored, or
   * raw-deflated by the caller (`deflated`: the uncompressed content's
   * checksum and size). `crc`: a stored entry's checksum, when the caller has
   * it (computed here otherwise).
   */
  add(info: ZipEntryInfo, data: Uint8Array, known: { deflated?: { crc: number; size: number }; crc?: number } = {}): void {
    const name = this.encoder.encode(info.name);
    this.checkSize(30 + name.length + data.length, info.name);
    const { deflated } = known;
    const entry: Central = {
      name,
      flags: FLAG_UTF8,
      method: deflated ? 8 : 0,
      crc: deflated ? deflated.crc : (known.crc ?? crc32(data)),
      compressed: data.length,
      size: deflated ? deflated.size : data.length,
      offset: this.offset,
      mode: info.mode,
      dir: info.name.endsWith("/"),
    };
    this.central.push(entry);
    this.push(localHeader(entry));
    if (data.length) this.push(data);
  }

  /**
   * A stored entry fed in pieces (a big file read a piece at a time): its
   * checksum and size go in a data descriptor after the data. `pieces` is
   * iterated once; each piece is kept as given.
   */
  addPieces(info: ZipEntryInfo, pieces: Iterable<Uint8Array>, checksum: (data: Uint8Array, crc: number) => number = crc32): number {
    const name = this.encoder.encode(info.name);
    const entry: Central = { name, flags: FLAG_UTF8 | FLAG_DESCRIPTOR, method: 0, crc: 0, compressed: 0, size: 0, offset: this.offset, mode: info.mode, dir: false };
    this.push(localHeader(entry));
    let size = 0;
    for (const piece of pieces) {
      this.checkSize(piece.length, info.name);
      entry.crc = checksum(piece, entry.crc);
      size += piece.length;
      this.push(piece);
    }
    entry.size = entry.compressed = size;
    const descriptor = new Uint8Array(16);
    const view = new DataView(descriptor.buffer);
    view.setUint32(0, 0x08074b50, true);
    view.setUint32(4, entry.crc, true);
    view.setUint32(8, size, true);
    view.setUint32(12, size, true);
    this.push(descriptor);
    this.central.push(entry);
    return size;
  }

  /** Writes the central directory; returns the chunks and the zip's size. */
  finish(): { parts: Uint8Array[]; size: number } {
    const start = this.offset;
    for (const entry of this.central) {
      this.checkSize(46 + entry.name.length, "the central directory");
      const header = new Uint8Array(46 + entry.name.length);
      const view = new DataView(header.buffer);
      view.setUint32(0, 0x02014b50, true);
      view.setUint16(4, MADE_BY, true);
      view.setUint16(6, NEEDED, true);
      view.setUint16(8, entry.flags, true);
      view.setUint16(10, entry.method, true);
      view.setUint16(12, DOS_TIME, true);
      view.setUint16(14, DOS_DATE, true);
      view.setUint32(16, entry.crc, true);
      view.setUint32(20, entry.compressed, true);
      view.setUint32(24, entry.size, true);
      view.setUint16(28, entry.name.length, true);
      // extra, comment, disk number, internal attributes: 0
      view.setUint32(38, ((entry.mode << 16) | (entry.dir ? 0x10 : 0)) >>> 0, true);
      view.setUint32(42, entry.offset, true);
      header.set(entry.name, 46);
      this.push(header);
    }
    if (this.central.length > 0xffff) throw new RangeError(`${this.central.length} entries are over a zip's 65,535 without zip64`);
    const end = new Uint8Array(22);
    const view = new DataView(end.buffer);
    view.setUint32(0, 0x06054b50, true);
    view.setUint16(8, this.central.length, true);
    view.setUint16(10, this.central.length, true);
    view.setUint32(12, this.offset - start, true);
    view.setUint32(16, start, true);
    this.push(end);
    return { parts: this.chunks, size: this.offset };
  }
}

function localHeader(entry: Central): Uint8Array {
  const header = new Uint8Array(30 + entry.name.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0x04034b50, true);
  view.setUint16(4, NEEDED, true);
  view.setUint16(6, entry.flags, true);
  view.setUint16(8, entry.method, true);
  view.setUint16(10, DOS_TIME, true);
  view.setUint16(12, DOS_DATE, true);
  // With a data descriptor, checksum and sizes are 0 here and follow the data.
  if (!(entry.flags & FLAG_DESCRIPTOR)) {
    view.setUint32(14, entry.crc, true);
    view.setUint32(18, entry.compressed, true);
    view.setUint32(22, entry.size, true);
  }
  view.setUint16(26, entry.name.length, true);
  header.set(entry.name, 30);
  return header;
}
