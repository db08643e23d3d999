/** The /v1 HTTP contract shared by keg and keg-agent (docs/api.md). @module */
import type { ErrorCode } from "../errors.ts";
import type { RunSpec } from "./schemas.ts";

// Request bodies are typed by their schemas; import these names from here (types only, no valibot at run time).
export type { HeartbeatRequest, HistoryQuery, KillRequest, LockRequest, OutputQuery, ResumeRequest, RunSpec, UnlockRequest } from "./schemas.ts";

export type ErrorBody = { error: { code: ErrorCode; message: string } };

/** GET /v1/whoami: who the token is, and what the box is. */
export type Identity = { user: string; version: string; name: string; /** `serve --max-upload`, in bytes */ max_upload_bytes?: number };

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
  /** the box's warm interpreter started it (docs/usage.md "Warm interpreter") */
  warm: boolean;
};

/** The `started` frame's payload; the frame payload types live in frames.ts. */
export type { StartedInfo } from "./frames.ts";

/** POST /v1/runs body: a 4-byte big-endian length, the RunSpec as JSON, then the zip. */
export function encodeRunHead(spec: RunSpec): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(spec));
  const head = new Uint8Array(4 + json.length);
  new DataView(head.buffer).setUint32(0, json.length);
  head.set(json, 4);
  return head;
}

/** The whole body in one buffer (tests; keg itself sends the head and the zip as they are). */
export function encodeRunBody(spec: RunSpec, zip: Uint8Array): Uint8Array {
  const head = encodeRunHead(spec);
  const body = new Uint8Array(head.length + zip.length);
  body.set(head);
  body.set(zip, head.length);
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

/** GET /health (no token): `started` changes when the agent restarts, in place or not. */
export type Health = { ok: true; version: string; name: string; started: string };

/** GET /v1/update: the running agent, the SHA-256 of its executable, and its platform (`linux-x64`, `linux-arm64`). */
export type AgentBinary = { version: string; sha256: string; platform: string };

/** POST /v1/update: the version the box now runs; `restarting` when it is about to exec it. */
export type UpdateResult = { version: string; restarting: boolean };
