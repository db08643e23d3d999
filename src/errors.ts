/**
 * One error type for everything keg reports to a person. The message is the
 * one line the user sees (problem, then fix); exitCode is the CLI's exit code
 * (docs/cli.md) and status the agent's HTTP status.
 * @module
 */
export type ErrorCode =
  | "usage"
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "busy"
  | "locked"
  | "too_large"
  | "unreachable"
  | "stale"
  | "rate_limited"
  | "failed";

const exitCodes: Record<ErrorCode, number> = {
  usage: 2,
  bad_request: 1,
  unauthorized: 1,
  forbidden: 1,
  not_found: 1,
  busy: 75,
  locked: 75,
  too_large: 1,
  unreachable: 1,
  stale: 1,
  rate_limited: 1,
  failed: 1,
};

const statuses: Record<ErrorCode, number> = {
  usage: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  busy: 409,
  locked: 409,
  too_large: 413,
  unreachable: 502,
  stale: 409,
  rate_limited: 429,
  failed: 500,
};

export class KegError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "KegError";
    this.code = code;
  }
  get exitCode(): number {
    return exitCodes[this.code];
  }
  get status(): number {
    return statuses[this.code];
  }
}

/** A refusal by a lock (exit 75), with the short form shown to waiters. */
export class LockRefusal extends KegError {
  constructor(
    code: "busy" | "locked",
    message: string,
    readonly blocker: string,
  ) {
    super(code, message);
  }
}

export const usageError = (message: string) => new KegError("usage", message);
export const failure = (message: string) => new KegError("failed", message);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && value in exitCodes;
}
