/** GET and POST /v1/update: the running binary, and a new one installed under the command lock (docs/api.md "Updating"). @module */
import { Hono } from "hono";
import { KegError } from "../../errors.ts";
import type { LockStore } from "../../lock/store.ts";
import { VERSION } from "../../version.ts";
import type { AgentBinary, UpdateResult } from "../../wire/api.ts";
import { UpdateQuerySchema } from "../../wire/schemas.ts";
import type { AuthEnv } from "../auth.ts";
import type { AgentConfig } from "../config.ts";
import { describeError, logEvent } from "../log.ts";
import { installAgentBinary, ownExecutableHash } from "../update.ts";
import { valid } from "./validate.ts";

export type UpdateDeps = {
  config: AgentConfig;
  locks: LockStore;
  /** called once the new binary is in place: the agent restarts in place; absent, it goes on with the old image */
  onUpdated?: () => void;
};

export function updateRoutes(deps: UpdateDeps) {
  const app = new Hono<AuthEnv>();

  app.get("/", async (c) => c.json({ version: VERSION, sha256: await ownExecutableHash(deps.config.stateDir), platform: `${process.platform}-${process.arch}` } satisfies AgentBinary));

  app.post("/", valid("query", UpdateQuerySchema), async (c) => {
    const { sha256, box, force } = c.req.valid("query") as { sha256: string; box?: string; force?: boolean };
    const user = c.get("user");
    const boxName = box || deps.config.name;
    if (!c.req.raw.body) throw new KegError("bad_request", "the request has no body: send the keg-agent binary as the body");
    // Held until the exec: the new agent clears it at its start (docs/locks.md "Restart").
    const grant = deps.locks.acquireCommand(boxName, user, "update", force ?? false);
    logEvent("update-received", { user, sha256, from: VERSION });
    try {
      const version = await installAgentBinary(c.req.raw.body, sha256, process.execPath, deps.config.stateDir);
      logEvent("update-installed", { user, from: VERSION, to: version, restarting: Boolean(deps.onUpdated) });
      if (deps.onUpdated) queueMicrotask(deps.onUpdated);
      else if (!grant.forced) deps.locks.releaseCommand(grant.generation);
      return c.json({ version, restarting: Boolean(deps.onUpdated) } satisfies UpdateResult);
    } catch (error) {
      if (!grant.forced) deps.locks.releaseCommand(grant.generation);
      logEvent("update-refused", { user, reason: describeError(error) });
      throw error;
    }
  });

  return app;
}
