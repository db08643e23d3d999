/** The /v1 HTTP contract shared by keg and keg-agent (docs/api.md). @module */
import type { ErrorCode } from "../errors.ts";
import type { RunSpec } from "./schemas.ts";

// Request bodies are typed by their schemas; import these names from here (types only, no valibot at run time).
export type { HeartbeatRequest, HistoryQuery, KillRequest, LockRequest, RunSpec, UnlockRequest } from "./schemas.ts";

export type ErrorBody = { error: { code: ErrorCode; message: string } };

export type Identity = { user: string; version: string; name: string };

/** A user lock as the agent reports it. */
export type UserLockInfo = { user: string; since: string; note?: string };

/** A command lock as the agent reports it. */
export type CommandLockInfo = { user: string; command: string; since: string; generation: number };

/** GET /v1/status */
export type BoxStatus = Identity & { user_lock: UserLockInfo | null; command_lock: CommandLockInfo | null };

/** A run as `ps --json` shows it (docs/api.md "Endpoints"). */
export type RunInfo = {
  id: string;
  user: string;
  runnable: string;
  command: "python" | "exec" | "pip";
  started: string;
  status: "running" | "exited" | "killed";
  exit_code: number | null;
  signal: string | null;
  detached: boolean;
};

/** The `started` frame's payload; the frame payload types live in frames.ts. */
export type { StartedInfo } from "./frames.ts";

/** POST /v1/runs body: a 4-byte big-endian length, the RunSpec as JSON, then the zip. */
export function encodeRunBody(spec: RunSpec, zip: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(spec));
  const body = new Uint8Array(4 + json.length + zip.length);
  new DataView(body.buffer).setUint32(0, json.length);
  body.set(json, 4);
  body.set(zip, 4 + json.length);
  return body;
}

/** One lock event as `boxes history --json` shows it (docs/locks.md "History"). */
export type HistoryEvent = {
  time: string;
  event: "locked" | "unlocked" | "forced-unlock" | "command-taken" | "command-released" | "command-stale" | "forced-command" | "cleared-at-start";
  user: string;
  /** the other party: the previous holder of a forced or stale lock */
  holder?: string;
  command?: "python" | "exec" | "pip" | "update";
  note?: string;
  generation?: number;
};
