/**
 * The agent's Hono app in this process, Hono's way: `createApp(deps)` on a
 * temp LMDB state dir with the real state, lock store, waiting lines and run
 * manager, driven with `app.request(...)`. No build and no listener needed.
 * `await using agent = await inProcessAgent()`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createApp, type WaitLines } from "../../src/agent/server.ts";
import type { AgentConfig } from "../../src/agent/config.ts";
import { preparePython } from "../../src/agent/python-env.ts";
import { finishedKey, RunManager, type RunRecord } from "../../src/agent/runs.ts";
import { openState, type State } from "../../src/agent/state.ts";
import { addUser, removeUser } from "../../src/agent/users.ts";
import { LockStore } from "../../src/lock/store.ts";
import { WaitLine } from "../../src/lock/wait-line.ts";
import { encodeRunBody, type RunSpec } from "../../src/wire/api.ts";
import { tempDir } from "../helpers/tmp.ts";
import { parseWords } from "../../src/args.ts";
import { configFromArgs, serveArgs } from "../../src/agent/cli/serve.ts";

/**
 * The run manager starts its supervisors by re-entering "this executable"
 * (selfCommand in src/platform/bun.ts: bun and its script, or the compiled
 * binary). Under bun test that is the test runner: make it bun running the
 * agent's source entry, so the spare supervisor it starts is a real one.
 */
function superviseFromSource(): void {
  const root = join(import.meta.dir, "..", "..");
  const bun = /\/bun$/.test(process.execPath) ? process.execPath : join(root, "node_modules", ".bin", "bun");
  if (!existsSync(bun)) return;
  process.execPath = bun;
  process.argv[1] = join(root, "src", "agent-main.ts");
}
superviseFromSource();

export type InProcessAgent = {
  app: ReturnType<typeof createApp>;
  state: State;
  locks: LockStore;
  runs: RunManager;
  config: AgentConfig;
  /** a new token of `user` */
  token(user: string): string;
  /** revokes every token of `user` */
  removeUser(user: string): void;
  /** `app.request` with the token and, for a string or object body, JSON */
  call(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** a finished run's record, as if it had run (for the routes that need a run id) */
  addFinishedRun(user: string, generation: number, id?: string): RunRecord;
  /** the lock state and history length: what a refused request must leave as it was */
  lockSnapshot(): unknown;
  [Symbol.asyncDispose](): Promise<void>;
};

export const validSpec: RunSpec = { command: "python", entry: "job.py", args: [], env: {}, timeout: 0, box: "lab", downloads: [], detach: false, force: false };

/** A POST /v1/runs body: the 4-byte length, the spec as JSON (anything, to test refusals), then the zip. */
export const runBody = (spec: unknown, zip = new Uint8Array(0)) => encodeRunBody(spec as RunSpec, zip) as Uint8Array<ArrayBuffer>;

export async function inProcessAgent(overrides: Partial<AgentConfig> = {}): Promise<InProcessAgent> {
  const dir = tempDir("keg-app-");
  // The defaults of `keg-agent serve`, with a 1 MiB upload and log limit.
  const serve = parseWords(["--listen", "127.0.0.1:0", "--state-dir", dir.path, "--name", "lab", "--max-upload", "1", "--log-limit", "1"], serveArgs);
  const config: AgentConfig = { ...configFromArgs(serve.args), ...overrides };
  const state = openState(dir.path);
  const locks = new LockStore(state, config.commandLockTtlSeconds * 1000);
  const runs = new RunManager(state, config, locks);
  const lines: WaitLines = { command: new WaitLine(), user: new WaitLine() };
  locks.onRelease = () => {
    lines.command.changed();
    lines.user.changed();
  };
  const app = createApp({ state, config, locks, runs, python: preparePython(dir.path, config.python), lines });
  let defaultToken: string | undefined;

  return {
    app,
    state,
    locks,
    runs,
    config,
    token: (user) => addUser(state, user),
    removeUser: (user) => void removeUser(state, user),
    call(method, path, options = {}) {
      const token = options.token ?? (defaultToken ??= addUser(state, "alice"));
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...options.headers };
      let body: BodyInit | undefined;
      if (options.body instanceof Uint8Array) body = options.body as Uint8Array<ArrayBuffer>;
      else if (options.body !== undefined) {
        body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
        headers["content-type"] ??= "application/json";
      }
      return Promise.resolve(app.request(path, { method, headers, body }));
    },
    addFinishedRun(user, generation, id = crypto.randomUUID()) {
      const record: RunRecord = {
        id,
        user,
        runnable: "job.py",
        warm: false,
        command: "python",
        started: new Date().toISOString(),
        status: "exited",
        exit_code: 0,
        signal: null,
        detached: false,
        generation,
        forced: false,
        box: "lab",
      };
      state.root.transactionSync(() => {
        state.runs.putSync(id, record);
        // As the agent indexes a run that ended (src/agent/runs.ts): `ps` lists it.
        state.finished.putSync(finishedKey(record), 0);
      });
      return record;
    },
    lockSnapshot: () => ({ ...locks.read(), history: locks.history(1000).length }),
    async [Symbol.asyncDispose]() {
      await state.close();
      dir[Symbol.dispose]();
    },
  };
}
