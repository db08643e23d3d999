/** The /v1 HTTP contract shared by keg and keg-agent (docs/api.md). @module */
import type { ErrorCode } from "../errors.ts";

export type ErrorBody = { error: { code: ErrorCode; message: string } };

export type Identity = { user: string; version: string; name: string };

export type Health = { ok: true; version: string; name: string };

/** A user lock as the agent reports it. */
export type UserLockInfo = { user: string; since: string; note?: string };

/** A command lock as the agent reports it. */
export type CommandLockInfo = { user: string; command: string; since: string; generation: number };

/** GET /v1/status */
export type BoxStatus = Identity & { user_lock: UserLockInfo | null; command_lock: CommandLockInfo | null };
