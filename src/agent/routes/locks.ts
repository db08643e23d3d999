/** /v1/status, /v1/lock, /v1/unlock, /v1/history (docs/locks.md, docs/api.md "Endpoints"). @module */
import { Hono } from "hono";
import { isStale } from "../../lock/rules.ts";
import type { LockStore } from "../../lock/store.ts";
import { WaitLine } from "../../lock/wait-line.ts";
import { VERSION } from "../../version.ts";
import type { BoxStatus } from "../../wire/api.ts";
import { encodeJsonFrame, Frame } from "../../wire/frames.ts";
import { HistoryQuerySchema, LockRequestSchema, UnlockRequestSchema } from "../../wire/schemas.ts";
import type { AuthEnv } from "../auth.ts";
import type { AgentConfig } from "../config.ts";
import { frameHeaders, frameStream, queueFrames } from "../frame-stream.ts";
import { smallJsonBody, valid } from "./validate.ts";

export function lockRoutes(config: AgentConfig, locks: LockStore, userLine: WaitLine) {
  const app = new Hono<AuthEnv>();
  const boxName = (given: string | undefined) => given || config.name;

  app.get("/status", (c) => {
    const { command, user } = locks.read();
    const live = command && !isStale(command, Date.now(), config.commandLockTtlSeconds * 1000) ? command : undefined;
    const status: BoxStatus = {
      user: c.get("user"),
      version: VERSION,
      name: config.name,
      user_lock: user ?? null,
      command_lock: live ? { user: live.user, command: live.command, since: live.since, generation: live.generation } : null,
    };
    return c.json(status);
  });

  app.post("/lock", smallJsonBody, valid("json", LockRequestSchema), async (c) => {
    const { box, note, wait } = c.req.valid("json");
    const take = () => locks.lockUser(boxName(box), c.get("user"), note || undefined);
    // Group commit: answered once the lock (and what came with it) is synced.
    if (wait === undefined) return c.json(await locks.lockUserGrouped(boxName(box), c.get("user"), note || undefined));
    const seconds = wait;
    const signal = c.req.raw.signal;
    async function* waitThenLock() {
      const giveBack = () => locks.unlockUser(boxName(box), c.get("user"), false);
      const result = yield* queueFrames(userLine.wait(take, seconds, signal, giveBack));
      yield encodeJsonFrame(Frame.result, result);
    }
    return new Response(frameStream(waitThenLock()), { headers: frameHeaders });
  });

  app.post("/unlock", smallJsonBody, valid("json", UnlockRequestSchema), async (c) => {
    const { box, force } = c.req.valid("json");
    return c.json(await locks.unlockUserGrouped(boxName(box), c.get("user"), force ?? false));
  });

  app.get("/history", valid("query", HistoryQuerySchema), (c) => c.json(locks.history(c.req.valid("query").limit)));

  return app;
}
