/**
 * Requests from keg to a box: the token, time limits, and the agent's JSON
 * errors turned back into the same KegError the agent threw.
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { isErrorCode, KegError } from "../errors.ts";
import { escapeControl } from "../text/escape.ts";
import type { ErrorBody } from "../wire/api.ts";

/** An error the box reported, as the same KegError, its text made safe for a terminal. */
export function remoteError(code: unknown, message: string): KegError {
  // An agent of another version may send a code this keg does not know.
  return new KegError(isErrorCode(code) ? code : "failed", escapeControl(String(message)));
}

export type RequestOptions = {
  method?: string;
  body?: BodyInit | null;
  headers?: Record<string, string>;
  /** give up on the answer's headers after this long */
  timeoutMs?: number;
  signal?: AbortSignal;
};

const DEFAULT_TIMEOUT_MS = 5000;

export async function request(box: Pick<Box, "name" | "address" | "token">, path: string, options: RequestOptions = {}): Promise<Response> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // The time limit covers the answer's headers only: a streamed body may last hours.
  const began = performance.now();
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), timeoutMs);
  const signal = options.signal ? AbortSignal.any([timer.signal, options.signal]) : timer.signal;
  let response: Response;
  try {
    response = await fetch(`${box.address}${path}`, {
      method: options.method ?? "GET",
      body: options.body,
      headers: { authorization: `Bearer ${box.token}`, ...options.headers },
      signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    const why = timer.signal.aborted
      ? `no answer within ${Math.round(timeoutMs / 1000)} s`
      : `${(error as NodeJS.ErrnoException).code ?? "connection failed"} after ${seconds} s`;
    throw new KegError("unreachable", `Cannot reach box '${box.name}' at ${box.address} (${why}). Check that keg-agent runs there and the address is right.`);
  } finally {
    clearTimeout(timeout);
  }
  if (response.ok) return response;
  throw await errorFromResponse(box, response);
}

export async function errorFromResponse(box: Pick<Box, "name" | "address">, response: Response): Promise<KegError> {
  if (response.status === 401)
    return new KegError("unauthorized", `The token for box '${box.name}' was refused by ${box.address}. Make a new one on the box with 'keg-agent users add NAME'.`);
  const text = await response.text().catch(() => "");
  // The agent's server refuses a body far over its cap before keg's own check can name the limit.
  if (response.status === 413 && !text)
    return new KegError("too_large", `Box '${box.name}' refused the upload as over its limit. Upload less, or raise the limit on the box with 'keg-agent serve --max-upload MIB'.`);
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (isErrorCode(body.error?.code) && typeof body.error.message === "string") return remoteError(body.error.code, body.error.message);
  } catch {}
  return new KegError("failed", `Box '${box.name}' answered ${response.status}${text ? `: ${escapeControl(text.slice(0, 200))}` : ""}.`);
}

export async function getJson<T>(box: Pick<Box, "name" | "address" | "token">, path: string, options: RequestOptions = {}): Promise<T> {
  return (await (await request(box, path, options)).json()) as T;
}

export async function postJson<T>(box: Pick<Box, "name" | "address" | "token">, path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
  const response = await request(box, path, {
    ...options,
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...options.headers },
  });
  return (await response.json()) as T;
}
