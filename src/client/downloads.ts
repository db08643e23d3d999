/**
 * `--download` on the CLI side: the local name of each file, the overwrite
 * check made before anything runs, and writing the received gzip stream
 * decompressed into a temp file renamed into place when whole.
 * @module
 */
import { createWriteStream, existsSync, openSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { basename, join } from "node:path";
import type { Gunzip } from "node:zlib";
import { KegError } from "../errors.ts";
import { Progress } from "./progress.ts";

// Loaded with the first download, not at every start of keg (docs/performance.md "Start-up").
const once = (emitter: NodeJS.EventEmitter, event: string) => (process.getBuiltinModule("node:events") as typeof import("node:events")).once(emitter, event);

/** `logs/run.csv.gz` is stored as `run.csv`, decompressed (docs/usage.md "Runs"). */
export const localName = (remote: string) => basename(remote).replace(/\.gz$/, "") || basename(remote);

/** Refuses, before the run starts, any download that would replace a local file. */
export function checkDownloadTargets(remotes: string[], cwd: string, allowOverwrite: boolean): void {
  const seen = new Set<string>();
  for (const remote of remotes) {
    const name = localName(remote);
    if (seen.has(name)) throw new KegError("usage", `Two --download files would both be saved as '${name}'. Download them in separate runs.`);
    seen.add(name);
    if (!allowOverwrite && existsSync(join(cwd, name)))
      throw new KegError("failed", `'${name}' already exists here; --download would replace it. Move it away or pass --allow-overwrite.`);
  }
}

/**
 * Receives one download at a time into a temp file beside its target, renamed
 * over the target only when the whole gzip stream arrived and checked out
 * (gunzip checks its CRC and length), so a cut or a failure never leaves a
 * torn file there: the target is either as it was or the whole new file.
 */
export class DownloadWriter {
  private gunzip?: Gunzip;
  private out?: WriteStream;
  private finished?: Promise<unknown>;
  private temp = "";
  private target = "";
  private progress?: Progress;
  /** files begun so far: each gets a temp name of its own */
  private count = 0;

  constructor(private readonly cwd: string) {}

  async begin(remote: string, size = 0): Promise<void> {
    // node:zlib costs milliseconds to load: only once a download arrives.
    const { createGunzip } = await import("node:zlib");
    this.abort(); // a file frame without its file_end before it: nothing of it is kept
    this.target = join(this.cwd, localName(remote));
    this.temp = join(this.cwd, `.${localName(remote)}.keg-part-${process.pid}-${++this.count}`);
    // Opened here, not by the stream later, so an abort right after removes a file that exists.
    const out = createWriteStream("", { fd: openSync(this.temp, "w", 0o644) });
    const gunzip = createGunzip();
    this.out = out;
    this.gunzip = gunzip;
    this.progress = new Progress(`downloading ${localName(remote)}`, size);
    const progress = this.progress;
    gunzip.on("data", (chunk: Buffer) => progress.add(chunk.length));
    gunzip.pipe(out);
    const failed = (stream: Gunzip | WriteStream) => once(stream, "error").then(([e]) => Promise.reject(e));
    this.finished = Promise.race([once(out, "finish"), failed(gunzip), failed(out)]);
    this.finished.catch(() => {});
  }

  async data(chunk: Uint8Array): Promise<void> {
    if (this.gunzip && !this.gunzip.write(chunk)) await once(this.gunzip, "drain");
  }

  /** Finishes the current file; returns an error sentence or undefined. */
  async end(ok: boolean, error?: string): Promise<string | undefined> {
    const { gunzip, out, temp, target } = this;
    this.gunzip = undefined;
    this.out = undefined;
    this.temp = "";
    if (!gunzip || !out) return error ?? "nothing was received";
    gunzip.end();
    try {
      await this.finished;
      this.progress?.finish();
      if (!ok) throw new Error(error ?? "the box stopped sending it");
      renameSync(temp, target);
      return undefined;
    } catch (e) {
      out.destroy();
      rmSync(temp, { force: true });
      return (e as Error).message;
    }
  }

  /** Drops the file being received, if any (a broken stream; the box sends it again after a reconnection). */
  abort(): void {
    this.gunzip?.destroy();
    this.out?.destroy();
    this.gunzip = undefined;
    this.out = undefined;
    this.progress?.finish();
    this.progress = undefined;
    if (this.temp) rmSync(this.temp, { force: true });
    this.temp = "";
  }
}
