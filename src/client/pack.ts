/**
 * The upload zip, CLI side: the script (or a directory's content), its
 * `.keg.json` includes and the `--add-file`s, laid out as the run folder on
 * the box (docs/usage.md "Runs").
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { joinBytes } from "../bytes.ts";
import { KegError } from "../errors.ts";
import { ZipWriter } from "./zip-writer.ts";

/** A file or directory put at `zipPath`; with `text`, that text instead of the file's own (a rewritten requirements file). */
export type PackEntry = { zipPath: string; source: string; text?: string };

export type PackInput = { runnable?: string; addFiles: string[]; entries?: PackEntry[] };

/** The zip as the pieces it was made in: sent one after the other, never copied into one buffer. */
export type Upload = { parts: Uint8Array[]; size: number };

export type PackResult = {
  upload: Upload;
  /** the whole zip in one buffer (made on first use: tests and small tools) */
  readonly zip: Uint8Array;
  /** the script's path in the zip (`name.py` or `main.py`); "" when only add-files were packed */
  entry: string;
  files: number;
  bytes: number;
  warnings: string[];
};

type Includes = { file: string; dir: string; map: Record<string, string> };

const SKIPPED_DIRS = new Set(["__pycache__", ".git"]);
// Deflating these again costs time and saves nothing.
const COMPRESSED = /\.(whl|zip|gz|tgz|bz2|xz|zst|7z|jar|png|jpe?g|gif|webp|mp[34]|npz)$/i;

/**
 * Packs a runnable, its includes and add-files into one zip.
 * @example
 * const { zip, entry } = await packUpload({ runnable: "job/", addFiles: ["data.csv"] });
 */
export async function packUpload(input: PackInput): Promise<PackResult> {
  const runnable = input.runnable === undefined ? undefined : checkRunnable(input.runnable);
  for (const file of input.addFiles) checkAddFile(file);
  const includes = runnable ? readIncludes(runnable.isDir ? runnable.path : path.dirname(runnable.path)) : undefined;

  const tree = new Tree();
  let entry = "";
  if (runnable?.isDir) {
    entry = "main.py";
    tree.addDir(runnable.path, "");
  } else if (runnable) {
    entry = path.basename(runnable.path);
    tree.addFile(runnable.path, entry);
  }
  for (const [dest, src] of Object.entries(includes?.map ?? {})) {
    const source = path.resolve(includes!.dir, src);
    const stat = statOrUndefined(source);
    if (!stat) tree.warnings.push(`Include '${dest}': ${src} not found, skipped.`);
    else if (stat.isDirectory()) tree.addDir(source, cleanDest(dest, includes!.file));
    else tree.addFile(source, cleanDest(dest, includes!.file));
  }
  for (const file of input.addFiles) tree.addFile(file, path.basename(file));
  for (const { zipPath, source, text } of input.entries ?? []) {
    if (text !== undefined) tree.addText(text, zipPath, source);
    else if (fs.statSync(source).isDirectory()) tree.addDir(source, zipPath);
    else tree.addFile(source, zipPath);
  }

  // node:zlib costs milliseconds to load: only when some file is worth deflating, or there is
  // enough to checksum that its native crc32 beats ours (a few MB of small files).
  const sizes = [...tree.files.values()].map(({ size }) => size);
  const worthZlib = sizes.some((size) => size >= STORE_UNDER) || sizes.reduce((sum, size) => sum + size, 0) >= NATIVE_CRC_OVER;
  const zlib = worthZlib ? await import("node:zlib") : undefined;
  const { upload, files, bytes } = buildZip(tree, zlib);
  let whole: Uint8Array | undefined;
  return {
    upload,
    get zip() {
      return (whole ??= joinBytes(upload.parts));
    },
    entry,
    files,
    bytes,
    warnings: tree.warnings,
  };
}

function checkRunnable(runnable: string): { path: string; isDir: boolean } {
  const stat = statOrUndefined(runnable);
  if (!stat) throw new KegError("failed", `Runnable '${runnable}' not found. Check the path.`);
  if (stat.isDirectory()) {
    if (!statOrUndefined(path.join(runnable, "main.py"))?.isFile()) {
      throw new KegError("failed", `Directory '${runnable}' has no main.py. Add one, or pass a .py file.`);
    }
    return { path: runnable, isDir: true };
  }
  if (!stat.isFile() || !runnable.endsWith(".py")) {
    throw new KegError("failed", `Runnable '${runnable}' is neither a .py file nor a directory. Pass a Python script or a directory with main.py.`);
  }
  return { path: runnable, isDir: false };
}

function checkAddFile(file: string): void {
  const stat = statOrUndefined(file);
  if (!stat) throw new KegError("failed", `--add-file '${file}' not found. Check the path.`);
  if (!stat.isFile()) {
    throw new KegError("failed", `--add-file '${file}' is not a file. Pass files, or list folders under "includes" in .keg.json.`);
  }
}

/** The first `.keg.json` from `start` up to the root wins. */
function readIncludes(start: string): Includes | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const file = path.join(dir, ".keg.json");
    if (statOrUndefined(file)?.isFile()) return parseKegJson(file, dir);
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function parseKegJson(file: string, dir: string): Includes {
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new KegError("failed", `${file} is not valid JSON (${(error as Error).message}). Fix or remove it.`);
  }
  const includes = isRecord(config) ? (config.includes ?? {}) : undefined;
  if (!isRecord(includes) || !Object.values(includes).every((src) => typeof src === "string")) {
    throw new KegError("failed", `${file}: "includes" must map folder names to source folders, like {"includes": {"lib": "../lib"}}.`);
  }
  const map = includes as Record<string, string>;
  for (const dest of Object.keys(map)) cleanDest(dest, file);
  return { file, dir, map };
}

/** DEST as a zip path; absolute, empty and `..` are refused. */
function cleanDest(dest: string, file: string): string {
  const parts = dest.replace(/\\/g, "/").split("/");
  const absolute = dest.startsWith("/") || dest.startsWith("\\") || /^[A-Za-z]:/.test(dest);
  const kept = parts.filter((part) => part !== "" && part !== ".");
  if (absolute || parts.includes("..") || kept.length === 0) {
    throw new KegError("failed", `Include '${dest}' in ${file} must be a relative folder name without '..'. Use a name like 'lib'.`);
  }
  return kept.join("/");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

/** The zip's content before it is written: zip path -> source file, links resolved. */
class Tree {
  readonly files = new Map<string, { source: string; mode: number; size: number; data?: Uint8Array<ArrayBuffer> }>();
  readonly dirs = new Map<string, string>();
  readonly warnings: string[] = [];

  addFile(source: string, zipPath: string, stat = fs.statSync(source)): void {
    checkName(zipPath, source);
    const clash = this.files.get(zipPath)?.source ?? this.dirs.get(zipPath);
    if (clash !== undefined) throw clashError(zipPath, clash, source);
    this.addParents(zipPath, source);
    this.files.set(zipPath, { source, mode: stat.mode & 0o111 ? 0o755 : 0o644, size: stat.size });
  }

  /** `text` as the file at `zipPath` (made from `source`). */
  addText(text: string, zipPath: string, source: string): void {
    const data = new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>;
    this.addFile(source, zipPath);
    this.files.set(zipPath, { source, mode: 0o644, size: data.length, data });
  }

  /**
   * A directory's content under `prefix` ("" = the zip root). A link inside
   * it is followed only when it stays inside the folder named (`top`): a
   * cloned project's link to `~/.ssh` or `/etc` must not ship them to a shared
   * box. Folders from elsewhere come in by `.keg.json` includes.
   */
  addDir(dir: string, prefix: string, ancestors = new Set<string>(), top = fs.realpathSync(dir)): void {
    const real = fs.realpathSync(dir);
    // Only a link back into its own ancestors is a cycle; the same folder linked twice is fine.
    if (ancestors.has(real)) {
      this.warnings.push(`Skipped ${dir}: a link that loops back to ${real}.`);
      return;
    }
    if (prefix) {
      checkName(prefix, dir);
      const clash = this.files.get(prefix)?.source;
      if (clash !== undefined) throw clashError(prefix, clash, dir);
      this.addParents(prefix, dir);
      this.dirs.set(prefix, dir);
    }
    ancestors.add(real);
    for (const name of readNames(dir)) {
      const source = path.join(dir, name);
      const zipPath = prefix ? `${prefix}/${name}` : name;
      const stat = statOrUndefined(source);
      if (!stat) this.warnings.push(`Skipped ${source}: a link to nothing.`);
      else if (!isInside(fs.realpathSync(source), top))
        this.warnings.push(`Skipped ${source}: a link out of ${top}. Name what it links to in .keg.json "includes" to upload it.`);
      else if (stat.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) this.addDir(source, zipPath, ancestors, top);
      } else if (!stat.isFile()) this.warnings.push(`Skipped ${source}: not a regular file.`);
      else if (!name.endsWith(".pyc")) this.addFile(source, zipPath, stat);
    }
    ancestors.delete(real);
  }

  private addParents(zipPath: string, source: string): void {
    const parts = zipPath.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const clash = this.files.get(parent)?.source;
      if (clash !== undefined) throw clashError(parent, clash, source);
      if (!this.dirs.has(parent)) this.dirs.set(parent, source);
    }
  }
}

/** The agent refuses backslashes in names (docs/api.md "The run body"); better to say so before uploading. */
function checkName(zipPath: string, source: string): void {
  if (zipPath.includes("\\")) throw new KegError("failed", `${source} has a backslash in its name, which the box refuses. Rename it.`);
}

function clashError(zipPath: string, first: string, second: string): KegError {
  return new KegError("failed", `Both ${first} and ${second} would be uploaded as '${zipPath}'. Rename one of them.`);
}

/** Smaller files go stored: deflating them saves nothing worth the time. */
const STORE_UNDER = 4096;
/** Above this many bytes in all, node's crc32 (native) is worth loading node:zlib for. */
const NATIVE_CRC_OVER = 256 * 1024;
/** Larger files are read in pieces and stored (docs/usage.md "Runs"). */
const READ_IN_PIECES_ABOVE = 16 * 1024 * 1024;
const PIECE_BYTES = 1024 * 1024;

/**
 * Our own zip writer (src/client/zip-writer.ts) fed with node's native
 * deflate: about ten times faster than a JavaScript deflate for 2,000 small
 * files, and nothing to set up for a lone small script.
 */
function buildZip(tree: Tree, zlib: typeof import("node:zlib") | undefined): { upload: Upload; files: number; bytes: number } {
  const zip = new ZipWriter();
  // node's crc32 when zlib is loaded anyway (some file is big), else ours (only files under STORE_UNDER then).
  const checksum = zlib ? (data: Uint8Array, crc = 0) => zlib.crc32(data, crc) : undefined;
  try {
    for (const [zipPath] of tree.dirs) zip.add({ name: `${zipPath}/`, mode: 0o40755 }, new Uint8Array(0));
    let bytes = 0;
    for (const [zipPath, { source, mode, size, data: given }] of tree.files) {
      const info = { name: zipPath, mode: 0o100000 | mode };
      if (!given && size > READ_IN_PIECES_ABOVE) {
        bytes += zip.addPieces(info, readPieces(source), checksum);
        continue;
      }
      const data = given ?? readSource(source);
      bytes += data.length;
      const deflated = !zlib || COMPRESSED.test(zipPath) || data.length < STORE_UNDER ? data : zlib.deflateRawSync(data, { level: 1 });
      if (deflated === data || deflated.length >= data.length) zip.add(info, data, { crc: checksum?.(data) });
      else zip.add(info, deflated, { deflated: { crc: checksum!(data), size: data.length } });
    }
    return { upload: zip.finish(), files: tree.files.size, bytes };
  } catch (error) {
    if (error instanceof RangeError) throw new KegError("failed", `The upload cannot be packed: ${error.message}. Upload fewer or smaller files.`);
    throw error;
  }
}

/**
 * A big file goes stored, read a piece at a time: the CLI never holds it
 * twice (read and deflated) beside the zip; on a lab network its transfer
 * costs less than deflating it.
 */
function* readPieces(source: string): Generator<Uint8Array> {
  let fd: number;
  try {
    fd = fs.openSync(source, "r");
  } catch (error) {
    throw unreadable(source, error);
  }
  try {
    for (;;) {
      // A fresh buffer each time: the zip keeps the piece it is given.
      const piece = Buffer.allocUnsafe(PIECE_BYTES);
      let read: number;
      try {
        read = fs.readSync(fd, piece, 0, PIECE_BYTES, null);
      } catch (error) {
        throw unreadable(source, error);
      }
      if (read === 0) return;
      yield piece.subarray(0, read);
    }
  } finally {
    fs.closeSync(fd);
  }
}

const isInside = (target: string, root: string) => target === root || target.startsWith(root.endsWith(path.sep) ? root : `${root}${path.sep}`);

function readSource(source: string): Uint8Array<ArrayBuffer> {
  try {
    return fs.readFileSync(source);
  } catch (error) {
    throw unreadable(source, error);
  }
}

function readNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch (error) {
    throw unreadable(dir, error);
  }
}

function unreadable(source: string, error: unknown): KegError {
  return new KegError("failed", `Cannot read ${source} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Check its permissions.`);
}

