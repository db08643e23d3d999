/**
 * The agent's LMDB environment in the state dir: users (token hashes), locks,
 * lock history and runs. Writes go through transactionSync (docs/development.md "LMDB": async
 * transaction callbacks hang under Bun).
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";

export type TokenRecord = { user: string; created: string };

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
  close(): Promise<void>;
  /** Drops the cached read snapshot, so the next read sees other processes' latest commits. */
  refresh(): void;
};

export function openState(stateDir: string): State {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const root = open({ path: join(stateDir, "db"), maxDbs: 8, compression: false });
  return {
    root,
    // Plain JSON values: msgpackr's shared record structures are a cross-process
    // hazard here (keg-agent users add writes while serve runs).
    tokens: root.openDB<TokenRecord, string>({ name: "tokens", encoding: "json" }),
    locks: root.openDB<any, string>({ name: "locks", encoding: "json" }),
    history: root.openDB<any, number>({ name: "history", encoding: "json" }),
    runs: root.openDB<any, string>({ name: "runs", encoding: "json" }),
    close: () => root.close(),
    refresh: () => root.resetReadTxn(),
  };
}
