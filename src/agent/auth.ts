/**
 * Token check for every path but /health, before routing: without a valid
 * token even an unknown /v1 path is a 401 (docs/api.md). An address that
 * keeps sending wrong tokens is answered 429 for a while; a valid token always
 * passes (docs/security.md "Limits").
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createHash } from "node:crypto";
import { KegError } from "../errors.ts";
import { peerAddress } from "../platform/index.ts";
import { logEvent } from "./log.ts";
import { HOLD_MS, RefusalLimit, REFUSALS_ALLOWED, WINDOW_MS } from "./refusal-limit.ts";
import type { State } from "./state.ts";
import { userForToken } from "./users.ts";

export type AuthEnv = { Variables: { user: string }; Bindings: { server?: unknown } };

function refuse(limit: RefusalLimit, address: string, token: string, header: (name: string, value: string) => void): void {
  const wait = limit.retryAfter(address);
  if (wait) {
    header("retry-after", String(wait));
    throw new KegError("rate_limited", `Too many refused tokens from ${address}. Wait ${wait} s, and check the token.`);
  }
  const digest = createHash("sha256").update(token).digest("base64url").slice(0, 16);
  if (limit.refused(address, digest))
    logEvent("tokens-held-back", { peer: address, refused: REFUSALS_ALLOWED + 1, window_s: WINDOW_MS / 1000, hold_s: HOLD_MS / 1000 });
}

export function requireToken(state: State, limit = new RefusalLimit()): MiddlewareHandler<AuthEnv> {
  return async function requireTokenMiddleware(c, next) {
    const header = c.req.header("authorization") ?? "";
    // The scheme is case-insensitive (RFC 9110, 11.1); the token is not.
    const match = /^bearer +(\S+)$/i.exec(header);
    const user = match ? userForToken(state, match[1]!) : undefined;
    if (user) {
      c.set("user", user);
      return next();
    }
    const peer = peerAddress(c.env?.server, c.req.raw) ?? "unknown";
    // Only a token that was tried counts: a request without one guesses nothing.
    if (match) refuse(limit, peer, match[1]!, (name, value) => c.header(name, value));
    // The address and path only: the token itself never reaches the log.
    logEvent("token-refused", { peer, request: `${c.req.method} ${c.req.path.slice(0, 200)}`, reason: match ? "unknown token" : "no token" });
    throw new KegError("unauthorized", "Missing or invalid token. Make one on the box with 'keg-agent users add NAME'.");
  };
}
