/**
 * The agent's HTTP API: /health without a token, everything else under the
 * token check, errors as JSON `{ error: { code, message } }`.
 * @module
 */
import { Hono } from "hono";
import { KegError } from "../errors.ts";
import { listen, type Listener } from "../platform/bun.ts";
import { VERSION } from "../version.ts";
import { requireToken, type AuthEnv } from "./auth.ts";
import type { AgentConfig } from "./config.ts";
import type { State } from "./state.ts";

export type AgentDeps = { state: State; config: AgentConfig };

export type AgentApp = Hono<AuthEnv>;

export function createApp(deps: AgentDeps): AgentApp {
  const app = new Hono<AuthEnv>();
  app.get("/health", (c) => c.json({ ok: true, version: VERSION, name: deps.config.name }));
  app.use("*", requireToken(deps.state));
  app.get("/v1/whoami", (c) => c.json({ user: c.get("user"), version: VERSION, name: deps.config.name }));
  app.get("/v1/status", (c) =>
    c.json({ user: c.get("user"), version: VERSION, name: deps.config.name, user_lock: null, command_lock: null }),
  );
  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route ${c.req.method} ${c.req.path}. See docs/api.md.` } }, 404));
  app.onError((error, c) => {
    if (error instanceof KegError) return c.json({ error: { code: error.code, message: error.message } }, error.status as 400);
    console.error(error);
    return c.json({ error: { code: "failed", message: `Internal error: ${error.message}` } }, 500);
  });
  return app;
}

export function startServer(deps: AgentDeps): Listener {
  const app = createApp(deps);
  return listen({
    host: deps.config.host,
    port: deps.config.port,
    maxRequestBodySize: deps.config.maxUploadBytes + 16 * 1024 * 1024,
    fetch: (request, server) => app.fetch(request, { server }),
  });
}
