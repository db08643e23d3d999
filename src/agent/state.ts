/**
 * The agent's LMDB environments in the state dir. `db` is durable: users
 * (token hashes), user locks, lock history, the reserved generations,
 * runs and the index of finished runs; every commit is synced. `volatile`
 * (opened by serve's lock store only, see `volatile()`) holds what every
 * agent start clears anyway: the command lock, the last granted generation
 * and the command-lock events not yet moved into the durable history; its
 * commits are never synced (docs/locks.md "Durability"). Writes go through
 * transactionSync (docs/development.md "LMDB": async transaction callbacks
 * hang under Bun).
 * @module
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { uptime } from "node:os";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";

export type TokenRecord = { user: string; created: string };

/** The never-synced environment of the command lock (src/lock/store.ts). */
export type VolatileDb = {
  root: RootDatabase;
  /** "command" -> the command lock, "generation" -> the last granted generation */
  locks: Database<any, string>;
  /** history sequence number -> a command-lock event not yet in the durable history */
  history: Database<any, number>;
};

export type State = {
  root: RootDatabase;
  /** sha256(token) hex -> TokenRecord */
  tokens: Database<TokenRecord, string>;
  /** lock name -> lock record (see src/lock/store.ts) */
  locks: Database<any, string>;
  /** sequence number -> history event */
  history: Database<any, number>;
  /** run id -> run record (see src/agent/runs.ts) */
  runs: Database<any, string>;
  /**
   * The finished runs in the order they started: `finishedKey(record)` ->
   * the bytes of the run's folder. Pruning reads it oldest first and stops
   * at the first run it keeps; `ps` lists from it (src/agent/runs.ts).
   */
  finished: Database<number, string>;
  /**
   * The volatile environment, opened at the first call. Only the serving
   * agent's lock store calls it; `keg-agent users` never opens it.
   */
  volatile(): VolatileDb;
  close(): Promise<void>;
  /** Drops the cached read snapshot, so the next read sees other processes' latest commits. */
  refresh(): void;
};

/**
 * This boot of the machine: the volatile environment is trusted only by the
 * boot that wrote it (after a crash of the machine its unsynced pages may be
 * torn; after a crash of the agent alone the page cache still has them all).
 */
function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // No boot id (not Linux): the boot's start time to the minute.
    return `booted-${Math.round((Date.now() - uptime() * 1000) / 60_000)}`;
  }
}

function openVolatile(stateDir: string): VolatileDb {
  const path = join(stateDir, "volatile");
  const bootFile = join(path, "boot");
  const boot = bootId();
  let written: string | undefined;
  try {
    written = readFileSync(bootFile, "utf8").trim();
  } catch {}
  if (written !== boot) {
    // Another boot's (or nobody's): never read it, start empty.
    rmSync(path, { recursive: true, force: true });
    mkdirSync(path, { recursive: true, mode: 0o700 });
    writeFileSync(bootFile, `${boot}\n`, { mode: 0o600 });
  }
  // A write map and no sync: a commit is a few stores into memory the page
  // cache keeps when the agent dies (not when the machine does: see bootId).
  const root = open({ path, maxDbs: 4, compression: false, noSync: true, useWritemap: true });
  return {
    root,
    locks: root.openDB<any, string>({ name: "locks", encoding: "json" }),
    history: root.openDB<any, number>({ name: "history", encoding: "json" }),
  };
}

export function openState(stateDir: string): State {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // No overlappingSync (lmdb-js's default on Linux): its commits return before their sync, and
  // with a second writing process (`keg-agent users add` beside serve) it broke commits
  // (MDB_PROBLEM "mdb_page_touch no parent", lost records; docs/development.md "LMDB").
  const root = open({ path: join(stateDir, "db"), maxDbs: 8, compression: false, overlappingSync: false });
  let volatile: VolatileDb | undefined;
  return {
    root,
    // Plain JSON values: msgpackr's shared record structures are a cross-process
    // hazard here (keg-agent users add writes while serve runs).
    tokens: root.openDB<TokenRecord, string>({ name: "tokens", encoding: "json" }),
    locks: root.openDB<any, string>({ name: "locks", encoding: "json" }),
    history: root.openDB<any, number>({ name: "history", encoding: "json" }),
    runs: root.openDB<any, string>({ name: "runs", encoding: "json" }),
    finished: root.openDB<number, string>({ name: "runs-finished", encoding: "json" }),
    volatile: () => (volatile ??= openVolatile(stateDir)),
    close: async () => {
      await volatile?.root.close();
      await root.close();
    },
    refresh: () => root.resetReadTxn(),
  };
}
