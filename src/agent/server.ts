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
import { listen, type Listener } from "../platform/index.ts";
import { VERSION } from "../version.ts";
import type { Identity } from "../wire/api.ts";
import { requireToken, type AuthEnv } from "./auth.ts";
import type { AgentConfig } from "./config.ts";
import { preparePython, type PythonEnv } from "./python-env.ts";
import { lockRoutes } from "./routes/locks.ts";
import { runRoutes } from "./routes/runs.ts";
import { tunnelRoutes } from "./routes/tunnels.ts";
import { RunManager } from "./runs.ts";
import { describeError, logEvent } from "./log.ts";
import { logLockEvent } from "./lock-log.ts";
import { updateRoutes } from "./routes/update.ts";
import { runUserOf, runUserFields } from "./run-user.ts";
import { secureStateDir } from "./state-modes.ts";
import { MAX_AGENT_BINARY_BYTES, ownExecutableHash } from "./update.ts";
import type { State } from "./state.ts";
import { serveUsers } from "./users-socket.ts";
import { WarmPython } from "./warm-python.ts";

/** Waiting lines: one for the command lock, one for the user lock. */
export type WaitLines = { command: WaitLine; user: WaitLine };

export type AgentDeps = {
  state: State;
  config: AgentConfig;
  locks: LockStore;
  runs: RunManager;
  python: PythonEnv;
  /** `serve --warm-python`: the warm interpreter python runs may start in */
  warm?: WarmPython;
  lines: WaitLines;
  /** a new agent binary is in place: restart in place (serve's loop does it) */
  onUpdated?: () => void;
};

/** What the serving process wants to hear about. */
export type AgentHooks = { onUpdated?: () => void };

/** The agent's own hash is computed this long after the start, off the start's path. */
const HASH_AFTER_START_MS = 3000;

/** When this process image started: a client sees an agent restarted in place by its change. */
const STARTED = new Date().toISOString();

export function createApp(deps: AgentDeps) {
  const app = new Hono<AuthEnv & { Bindings: { server?: unknown } }>();
  app.get("/health", (c) => c.json({ ok: true, version: VERSION, name: deps.config.name, started: STARTED }));
  app.use("*", requireToken(deps.state));
  app.get("/v1/whoami", (c) => c.json({ user: c.get("user"), version: VERSION, name: deps.config.name, max_upload_bytes: deps.config.maxUploadBytes } satisfies Identity));
  app.route("/v1", lockRoutes(deps.config, deps.locks, deps.lines.user));
  app.route("/v1/runs", runRoutes(deps));
  app.route("/v1/update", updateRoutes(deps));
  app.route("/v1/runs", tunnelRoutes(deps.runs));
  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route ${c.req.method} ${c.req.path}. See docs/api.md.` } }, 404));
  app.onError((error, c) => {
    if (error instanceof KegError) return c.json({ error: { code: error.code, message: error.message } }, error.status as 400);
    if (error instanceof SyntaxError) return c.json({ error: { code: "bad_request", message: `Bad request body: ${error.message}.` } }, 400);
    // Hono's own refusals (its validator, its body limit) in keg's error shape.
    if (error instanceof HTTPException && error.status < 500) {
      const code = error.status === 413 ? "too_large" : "bad_request";
      return c.json({ error: { code, message: `${error.message || "Bad request"}.` } }, error.status);
    }
    logEvent("error", { request: `${c.req.method} ${c.req.path}`, cause: describeError(error) });
    return c.json({ error: { code: "failed", message: `Internal error: ${error.message}` } }, 500);
  });
  return app;
}

/** Opens everything the agent serves from and starts listening. */
export function startAgent(state: State, config: AgentConfig, hooks: AgentHooks = {}): Listener {
  const runUser = runUserOf(config);
  secureStateDir(config.stateDir, runUser);
  logEvent("scripts-run-as", runUserFields(runUser));
  const locks = new LockStore(state, config.commandLockTtlSeconds * 1000);
  locks.onEvent = logLockEvent;
  // Command locks of a previous life are void at once (docs/locks.md "Restart").
  locks.clearCommandLock();
  const runs = new RunManager(state, config, locks);
  runs.recover();
  setInterval(() => runs.prune(), 3600_000).unref();
  const python = preparePython(config.stateDir, config.python, { venv: true, user: runUser });
  const warm = config.warmPython ? new WarmPython(config.stateDir, python, runUser, config.preload ?? []) : undefined;
  // A pip run changed the venv: a new warm interpreter imports what is there now.
  if (warm) runs.onRunEnded = (record) => record.command === "pip" && warm.restart();
  // The spare supervisor connects to the warm interpreter ahead of its run (docs/performance.md).
  if (warm) warm.onServer = (server) => runs.useWarmServer(server);
  const lines: WaitLines = { command: new WaitLine(), user: new WaitLine() };
  locks.onRelease = () => {
    lines.command.changed();
    lines.user.changed();
  };
  const app = createApp({ state, config, locks, runs, python, warm, lines, onUpdated: hooks.onUpdated });
  // Ahead of a `keg update` asking for it (once per binary: it is kept in the state dir).
  setTimeout(() => void ownExecutableHash(config.stateDir).catch(() => {}), HASH_AFTER_START_MS).unref();
  const listener = listen({
    host: config.host,
    port: config.port,
    maxRequestBodySize: Math.max(config.maxUploadBytes, MAX_AGENT_BINARY_BYTES) + 16 * 1024 * 1024,
    fetch: (request, server) => app.fetch(request, { server }),
  });
  const users = serveUsersIfPossible(state, config.stateDir);
  return {
    ...listener,
    stop: async (closeActive) => {
      users?.close();
      await listener.stop(closeActive);
    },
  };
}

/**
 * The socket `keg-agent users` asks while this agent serves. Without it they
 * cannot change the state until the agent stops (one writer at a time:
 * src/agent/serve-claim.ts), which the log says.
 */
function serveUsersIfPossible(state: State, stateDir: string): { close(): void } | undefined {
  try {
    return serveUsers(state, stateDir);
  } catch (error) {
    logEvent("warning", { message: `keg-agent users cannot reach this agent, so it cannot change users while it runs: ${describeError(error)}` });
    return undefined;
  }
}
