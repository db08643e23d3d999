/**
 * `keg update` on the box: a new keg-agent arrives, is written beside this
 * executable under a name of its own (two agents started from one file may
 * update at once), checked (its SHA-256, then that it runs and prints a
 * keg-agent version line) and renamed over the executable in one step. A
 * binary that fails a check is refused and removed: nothing is left beside
 * the executable and the running agent goes on (docs/api.md "Updating").
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import { chmodSync, closeSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { KegError } from "../errors.ts";
import { writeFileAtomically } from "../files/atomic-write.ts";
import { sha256OfFile } from "../files/sha256.ts";
import { runCaptured } from "../platform/index.ts";
import { escapeControl } from "../text/escape.ts";
import { agentVersionIn } from "../version.ts";
import { readJson } from "./run-files.ts";

/** Far above a compiled agent (~120 MB), far below what a box's disk minds. */
export const MAX_AGENT_BINARY_BYTES = 1024 * 1024 * 1024;
const VERSION_CHECK_MS = 15_000;

/** The hash of an executable, kept in the state dir with what identifies the file, so it is computed once per binary. */
type HashRecord = { path: string; ino: number; size: number; mtimeMs: number; sha256: string };

const hashRecordPath = (stateDir: string) => join(stateDir, "agent-binary.json");
const identity = (path: string) => {
  const stat = statSync(path);
  return { path, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
};
const sameFile = (a: Omit<HashRecord, "sha256">, b: Omit<HashRecord, "sha256">) => a.path === b.path && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

function rememberHash(stateDir: string, path: string, sha256: string): void {
  writeFileAtomically(hashRecordPath(stateDir), JSON.stringify({ ...identity(path), sha256 }), { sync: false });
}

let ownHash: Promise<string> | undefined;

/** The SHA-256 of this process's executable (`update` compares it with the binary it would send). */
export function ownExecutableHash(stateDir: string): Promise<string> {
  return (ownHash ??= (async () => {
    const now = identity(process.execPath);
    const known = readJson<HashRecord>(hashRecordPath(stateDir));
    if (known && sameFile(known, now)) return known.sha256;
    const sha256 = sha256OfFile(process.execPath);
    rememberHash(stateDir, process.execPath, sha256);
    return sha256;
  })());
}

const refused = (reason: string) => new KegError("bad_request", reason);

/**
 * Writes the body to `file` (created exclusively, never over anything) and
 * returns its SHA-256. No fsync: it cost ~0.2 s a box, and ext4 (auto_da_alloc)
 * writes a file's data out before a rename over another file commits.
 */
async function receive(body: ReadableStream<Uint8Array>, file: string): Promise<string> {
  const fd = openSync(file, "wx", 0o700);
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > MAX_AGENT_BINARY_BYTES) throw new KegError("too_large", `the binary is over the limit of ${MAX_AGENT_BINARY_BYTES / 1024 ** 2} MiB for an agent`);
      hash.update(chunk);
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Runs the candidate with --version; its version, or the refusal saying why not. */
async function versionOf(file: string): Promise<string> {
  let result;
  try {
    result = await runCaptured([file, "--version"], { cwd: dirname(file), env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: VERSION_CHECK_MS });
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === "ENOEXEC" ? "exec format error" : (error as Error).message;
    throw refused(`the new agent did not start (${escapeControl(why)})`);
  }
  if (result.timedOut) throw refused(`the new agent did not answer '--version' within ${VERSION_CHECK_MS / 1000} s`);
  const version = result.code === 0 ? agentVersionIn(result.stdout) : undefined;
  if (version) return version;
  const said = (result.stdout.trim() || result.stderr.trim()).split("\n")[0]!.slice(0, 80);
  if (result.code !== 0) throw refused(`the new agent did not start ('--version' exited ${result.code ?? "by a signal"}${said ? `: ${escapeControl(said)}` : ""})`);
  throw refused(`the binary is not a keg-agent ('--version' printed '${escapeControl(said)}', not a keg-agent version line)`);
}

/**
 * Receives, checks and installs a new agent binary over `executable`; its
 * version on success. On any refusal nothing is left beside the executable.
 */
export async function installAgentBinary(body: ReadableStream<Uint8Array>, sha256: string, executable: string, stateDir: string): Promise<string> {
  const candidate = join(dirname(executable), `.${basename(executable)}.update-${randomUUID()}`);
  try {
    const received = await receive(body, candidate);
    if (received !== sha256)
      throw refused(`the binary arrived with SHA-256 ${received.slice(0, 12)}…, not the ${sha256.slice(0, 12)}… it was sent with (cut short or damaged on the way); send it again`);
    chmodSync(candidate, 0o755);
    const version = await versionOf(candidate);
    renameSync(candidate, executable);
    rememberHash(stateDir, executable, sha256);
    return version;
  } finally {
    rmSync(candidate, { force: true });
  }
}
