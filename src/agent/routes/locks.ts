/** /v1/status, /v1/lock, /v1/unlock, /v1/history (SPEC §5). @module */
import { Hono } from "hono";
import { isStale } from "../../lock/rules.ts";
import type { LockStore } from "../../lock/store.ts";
import { WaitLine } from "../../lock/wait-line.ts";
import { VERSION } from "../../version.ts";
import type { BoxStatus } from "../../wire/api.ts";
import { encodeJsonFrame, Frame } from "../../wire/frames.ts";
import type { AuthEnv } from "../auth.ts";
import type { AgentConfig } from "../config.ts";
import { frameHeaders, frameStream, queueFrames } from "../frame-stream.ts";

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

  app.post("/lock", async (c) => {
    const { box, note, wait } = await c.req.json<{ box?: string; note?: string; wait?: number }>();
    const take = () => locks.lockUser(boxName(box), c.get("user"), note || undefined);
    if (wait === undefined) return c.json(take());
    const signal = c.req.raw.signal;
    async function* waitThenLock() {
      const giveBack = () => locks.unlockUser(boxName(box), c.get("user"), false);
      const result = yield* queueFrames(userLine.wait(take, wait!, signal, giveBack));
      yield encodeJsonFrame(Frame.result, result);
    }
    return new Response(frameStream(waitThenLock()), { headers: frameHeaders });
  });

  app.post("/unlock", async (c) => {
    const { box, force } = await c.req.json<{ box?: string; force?: boolean }>();
    return c.json(locks.unlockUser(boxName(box), c.get("user"), Boolean(force)));
  });

  app.get("/history", (c) => c.json(locks.history(Math.min(Number(c.req.query("limit") ?? 50) || 50, 1000))));

  return app;
}
