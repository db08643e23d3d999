/**
 * The agent's HTTP API: /health without a token, everything else under the
 * token check, errors as JSON `{ error: { code, message } }`.
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { KegError } from "../errors.ts";
import { LockStore } from "../lock/store.ts";
import { WaitLine } from "../lock/wait-line.ts";
import { listen, type Listener } from "../platform/bun.ts";
import { VERSION } from "../version.ts";
import { requireToken, type AuthEnv } from "./auth.ts";
import type { AgentConfig } from "./config.ts";
import { preparePython, type PythonEnv } from "./python-env.ts";
import { lockRoutes } from "./routes/locks.ts";
import { runRoutes } from "./routes/runs.ts";
import { RunManager } from "./runs.ts";
import type { State } from "./state.ts";

/** Waiting lines: one for the command lock, one for the user lock. */
export type WaitLines = { command: WaitLine; user: WaitLine };

export type AgentDeps = { state: State; config: AgentConfig; locks: LockStore; runs: RunManager; python: PythonEnv; lines: WaitLines };

export function createApp(deps: AgentDeps) {
  const app = new Hono<AuthEnv & { Bindings: { server?: unknown } }>();
  app.get("/health", (c) => c.json({ ok: true, version: VERSION, name: deps.config.name }));
  app.use("*", requireToken(deps.state));
  app.get("/v1/whoami", (c) => c.json({ user: c.get("user"), version: VERSION, name: deps.config.name }));
  app.route("/v1", lockRoutes(deps.config, deps.locks, deps.lines.user));
  app.route("/v1/runs", runRoutes(deps));
  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route ${c.req.method} ${c.req.path}. See docs/api.md.` } }, 404));
  app.onError((error, c) => {
    if (error instanceof KegError) return c.json({ error: { code: error.code, message: error.message } }, error.status as 400);
    if (error instanceof SyntaxError) return c.json({ error: { code: "bad_request", message: `Bad request body: ${error.message}.` } }, 400);
    // Hono's own refusals (its validator, its body limit) in keg's error shape.
    if (error instanceof HTTPException && error.status < 500) {
      const code = error.status === 413 ? "too_large" : "bad_request";
      return c.json({ error: { code, message: `${error.message || "Bad request"}.` } }, error.status);
    }
    console.error(error);
    return c.json({ error: { code: "failed", message: `Internal error: ${error.message}` } }, 500);
  });
  return app;
}

/** Opens everything the agent serves from and starts listening. */
export function startAgent(state: State, config: AgentConfig): Listener {
  const locks = new LockStore(state, config.commandLockTtlSeconds * 1000);
  // Command locks of a previous life are void at once (docs/locks.md "Restart").
  locks.clearCommandLock();
  const runs = new RunManager(state, config, locks);
  runs.recover();
  setInterval(() => runs.prune(), 3600_000).unref();
  const python = preparePython(config.stateDir, config.python, { venv: true });
  const lines: WaitLines = { command: new WaitLine(), user: new WaitLine() };
  locks.onRelease = () => {
    lines.command.changed();
    lines.user.changed();
  };
  const app = createApp({ state, config, locks, runs, python, lines });
  return listen({
    host: config.host,
    port: config.port,
    maxRequestBodySize: config.maxUploadBytes + 16 * 1024 * 1024,
    fetch: (request, server) => app.fetch(request, { server }),
  });
}
