/**
 * Token check for every path but /health, before routing: without a valid
 * token even an unknown /v1 path is a 401 (docs/api.md).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { KegError } from "../errors.ts";
import { peerAddress } from "../platform/bun.ts";
import { logEvent } from "./log.ts";
import type { State } from "./state.ts";
import { userForToken } from "./users.ts";

export type AuthEnv = { Variables: { user: string }; Bindings: { server?: unknown } };

export function requireToken(state: State): MiddlewareHandler<AuthEnv> {
  return async function requireTokenMiddleware(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer (\S+)$/.exec(header);
    const user = match ? userForToken(state, match[1]!) : undefined;
    if (!user) {
      // The address and path only: the token itself never reaches the log.
      logEvent("token-refused", { peer: peerAddress(c.env?.server, c.req.raw), request: `${c.req.method} ${c.req.path.slice(0, 200)}`, reason: match ? "unknown token" : "no token" });
      throw new KegError("unauthorized", "Missing or invalid token. Make one on the box with 'keg-agent users add NAME'.");
    }
    c.set("user", user);
    await next();
  };
}
