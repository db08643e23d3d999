/**
 * The upload zip, agent side: every entry is checked before anything is
 * written, so a hostile zip leaves the run folder empty (docs/usage.md "Runs").
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { Open, type File as ZipEntry } from "unzipper";
import { KegError } from "../errors.ts";
import { relativePathProblem } from "../wire/names.ts";

export type UnpackLimits = { maxEntries?: number; maxBytes?: number };

/** The zip being unpacked: bytes kept in memory (a small upload), or a file. */
type ZipSource = {
  size: number;
  /** `length` bytes at `position` (fewer at the end) */
  read(position: number, length: number): Uint8Array;
  /** the bytes from `start` to `end` (inclusive), streamed */
  stream(start: number, end: number): Readable;
  close(): void;
};

function fileSource(zipPath: string): ZipSource {
  const fd = fs.openSync(zipPath, "r");
  return {
    size: fs.fstatSync(fd).size,
    read(position, length) {
      const data = Buffer.alloc(length);
      return data.subarray(0, fs.readSync(fd, data, 0, length, position));
    },
    stream: (start, end) => fs.createReadStream(zipPath, { start, end }),
    close: () => fs.closeSync(fd),
  };
}

function memorySource(bytes: Uint8Array): ZipSource {
  return {
    size: bytes.length,
    read: (position, length) => bytes.subarray(position, position + length),
    stream: (start, end) => Readable.from([bytes.subarray(start, end + 1)]),
    close() {},
  };
}

const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BYTES = 1024 ** 3;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const LOCAL_HEADER = 0x04034b50;
const WRITERS = 4;
// Entries over this are streamed, so a big file never sits in memory whole.
const STREAM_OVER = 8 * 1024 * 1024;

/**
 * Unpacks an upload (a zip file's path, or a small one's bytes) into `runDir` (existing and empty).
 * @example
 * const { files, bytes } = await unpackUpload("/state/uploads/x.zip", "/state/runs/x");
 */
export async function unpackUpload(upload: string | Uint8Array, runDir: string, opts: UnpackLimits = {}): Promise<{ files: number; bytes: number }> {
  const entries = await readDirectory(upload);
  const root = path.resolve(runDir);
  const plan = planEntries(entries, root, opts.maxEntries ?? DEFAULT_MAX_ENTRIES, opts.maxBytes ?? DEFAULT_MAX_BYTES);
  const zip = typeof upload === "string" ? fileSource(upload) : memorySource(upload);
  try {
    for (const folder of plan.folders) fs.mkdirSync(folder, { recursive: true });
    // Creating files is the slow part (seconds on a busy disk); writing async, a few at a time,
    // keeps the agent streaming other runs' output meanwhile (docs/usage.md "Runs": output within 100 ms).
    const fewAndSmall = plan.files.length <= FEW_FILES && plan.files.every(({ entry }) => isSmall(entry));
    if (fewAndSmall) for (const { entry, target } of plan.files) writeSmallSync(zip, entry, target);
    else await inParallel(plan.files, WRITERS, ({ entry, target }) => writeEntry(zip, entry, target));
    return { files: plan.files.length, bytes: plan.bytes };
  } catch (error) {
    // The central directory can lie about sizes or checksums; that shows only now.
    emptyDir(root);
    throw error;
  } finally {
    zip.close();
  }
}

/** Below this size the central directory is read from memory: several times faster than Open.file. */
const READ_WHOLE_UNDER = 32 * 1024 * 1024;

async function readDirectory(upload: string | Uint8Array): Promise<ZipEntry[]> {
  try {
    if (typeof upload !== "string") return (await Open.buffer(Buffer.from(upload.buffer, upload.byteOffset, upload.length))).files;
    const small = fs.statSync(upload).size < READ_WHOLE_UNDER;
    return (small ? await Open.buffer(fs.readFileSync(upload)) : await Open.file(upload)).files;
  } catch (error) {
    const message = (error as Error).message;
    throw notAZip(message === "FILE_ENDED" ? "no central directory; is it truncated?" : message);
  }
}

type Plan = { folders: string[]; files: { entry: ZipEntry; target: string }[]; bytes: number };

/** Checks every entry before anything is written; the first bad one refuses the whole upload. */
function planEntries(entries: ZipEntry[], root: string, maxEntries: number, maxBytes: number): Plan {
  if (entries.length > maxEntries) {
    throw refused(`Upload refused: it has ${entries.length} entries, over the limit of ${maxEntries}. Nothing was unpacked.`);
  }
  const plan: Plan = { folders: [], files: [], bytes: 0 };
  const files = new Set<string>();
  const dirs = new Set<string>();
  for (const entry of entries) {
    const refuse = (reason: string) => refused(`Upload refused: entry '${printable(entry.path)}' ${reason}. Nothing was unpacked.`);
    const reason = relativePathProblem(entry.path) ?? headerProblem(entry) ?? kindProblem(entry);
    if (reason) throw refuse(reason);
    const isDir = entry.path.endsWith("/");
    const name = isDir ? entry.path.slice(0, -1) : entry.path;
    const target = path.resolve(root, name);
    if (!target.startsWith(root + path.sep)) throw refuse("lands outside the run folder");
    const parts = name.split("/");
    const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
    if (files.has(name) || (!isDir && dirs.has(name)) || parents.some((parent) => files.has(parent))) {
      throw refuse("collides with another entry");
    }
    for (const parent of parents) dirs.add(parent);
    if (isDir) {
      dirs.add(name);
      plan.folders.push(target);
    } else {
      files.add(name);
      plan.files.push({ entry, target });
      plan.folders.push(path.dirname(target));
    }
    plan.bytes += entry.uncompressedSize;
    if (plan.bytes > maxBytes) {
      throw refused(`Upload refused: it unpacks to more than ${maxBytes} bytes, the limit. Nothing was unpacked.`);
    }
  }
  plan.folders = [...new Set(plan.folders)];
  return plan;
}


/**
 * unzipper leaves a size or offset undefined when the central directory says
 * "in the ZIP64 extra" (0xffffffff) and no such extra is there: refused
 * before any arithmetic turns it into NaN (an unchecked size, a read at NaN).
 */
function headerProblem(entry: ZipEntry): string | undefined {
  const numbers = [entry.offsetToLocalFileHeader, entry.compressedSize, entry.uncompressedSize];
  return numbers.every((n) => Number.isSafeInteger(n) && n >= 0) ? undefined : "has a damaged header (a size or offset that is not a number)";
}

function kindProblem(entry: ZipEntry): string | undefined {
  if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) return "is a symbolic link";
  if (entry.flags & 1) return "is encrypted";
  if (entry.path.endsWith("/")) return entry.uncompressedSize === 0 ? undefined : "is a folder with data";
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) return `uses compression method ${entry.compressionMethod}, not deflate`;
  return undefined;
}

/** A typical upload (a script and a few files) is written at once: no async round trips. */
const FEW_FILES = 16;

function writeOptions(entry: ZipEntry) {
  const unixMode = entry.versionMadeBy >> 8 === 3 ? entry.externalFileAttributes >>> 16 : 0;
  // "wx": never write through something already there.
  return { mode: unixMode & 0o111 ? 0o755 : 0o644, flag: "wx" };
}

const isSmall = (entry: ZipEntry) => Math.max(entry.compressedSize, entry.uncompressedSize) <= STREAM_OVER;

function writeSmallSync(zip: ZipSource, entry: ZipEntry, target: string): void {
  fs.writeFileSync(target, readSmall(zip, entry, dataStart(zip, entry)), writeOptions(entry));
}

async function writeEntry(zip: ZipSource, entry: ZipEntry, target: string): Promise<void> {
  const start = dataStart(zip, entry);
  const options = writeOptions(entry);
  if (isSmall(entry)) {
    return fs.promises.writeFile(target, readSmall(zip, entry, start), options);
  }
  const source = zip.stream(start, start + entry.compressedSize - 1);
  const sink = fs.createWriteStream(target, { mode: options.mode, flags: options.flag });
  try {
    if (entry.compressionMethod === 8) await pipeline(source, zlib.createInflateRaw(), checked(entry), sink);
    else await pipeline(source, checked(entry), sink);
  } catch (error) {
    const code = String((error as NodeJS.ErrnoException).code ?? "");
    throw code.startsWith("Z_") ? notAZip(`'${printable(entry.path)}' does not inflate: ${(error as Error).message}`) : error;
  }
}

/** Runs `work` on every item, `width` at a time; after a failure starts no more and waits for those in flight. */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (failures.length === 0 && next < items.length) {
      try {
        await work(items[next++]!);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  if (failures.length > 0) throw failures[0];
}

/** Where an entry's data starts: after its local header, whose name and extra lengths may differ from the central directory's. */
function dataStart(zip: ZipSource, entry: ZipEntry): number {
  const header = zip.read(entry.offsetToLocalFileHeader, 30);
  const view = new DataView(header.buffer, header.byteOffset, header.length);
  if (header.length !== 30 || view.getUint32(0, true) !== LOCAL_HEADER) throw notAZip(`bad local header for '${printable(entry.path)}'`);
  const start = entry.offsetToLocalFileHeader + 30 + view.getUint16(26, true) + view.getUint16(28, true);
  if (start + entry.compressedSize > zip.size) throw notAZip(`'${printable(entry.path)}' is truncated`);
  return start;
}

/** Inflates with node's native zlib: several times faster than unzipper's streams (docs/development.md "Zips"). */
function readSmall(zip: ZipSource, entry: ZipEntry, start: number): Uint8Array {
  const raw = zip.read(start, entry.compressedSize);
  let data: Uint8Array = raw;
  if (entry.compressionMethod === 8) {
    try {
      // The limit stops an entry that lies about its size from inflating without bound.
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
    } catch (error) {
      throw notAZip(`'${printable(entry.path)}' does not inflate: ${(error as Error).message}`);
    }
  }
  if (data.length !== entry.uncompressedSize || zlib.crc32(data) !== entry.crc32) throw mismatch(entry);
  return data;
}

/** Passes data through, failing as soon as it outgrows the declared size or ends with the wrong checksum. */
function checked(entry: ZipEntry): Transform {
  let size = 0;
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > entry.uncompressedSize) return done(mismatch(entry));
      crc = zlib.crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      done(size === entry.uncompressedSize && crc === entry.crc32 ? null : mismatch(entry));
    },
  });
}

function mismatch(entry: ZipEntry): KegError {
  return notAZip(`'${printable(entry.path)}' does not match its size or checksum`);
}

function emptyDir(dir: string): void {
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  for (const name of names) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

function printable(name: string): string {
  return name.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function refused(message: string): KegError {
  return new KegError("bad_request", message);
}

function notAZip(detail: string): KegError {
  return refused(`Upload refused: not a valid zip (${detail}).`);
}
