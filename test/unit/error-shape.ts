/** The agent's JSON error shape (docs/api.md "Errors"), checked the same way by every in-process test. */
import { expect } from "bun:test";
import type { ErrorCode } from "../../src/errors.ts";

export type Answer = { status: number; type: string | null; body: unknown };

/** Status, content type and body of a response, the body parsed when it is JSON. */
export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, type: response.headers.get("content-type"), body };
}

/** `{ error: { code, message } }` with a one-line message (matching `message` when given). */
export function errorShape(status: number, code: ErrorCode, message: string | RegExp = /^[^\n]+$/): Answer {
  return {
    status,
    type: expect.stringContaining("application/json") as unknown as string,
    body: { error: { code, message: typeof message === "string" ? message : expect.stringMatching(message) } },
  };
}
