/**
 * While attached, keg tells the box every `keepalive` seconds that the run's
 * command lock is still in use (docs/locks.md "The command lock").
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { warn } from "../log.ts";
import type { StartedInfo } from "../wire/frames.ts";
import { postJson } from "./http.ts";

export class Heartbeat {
  private timer?: ReturnType<typeof setInterval>;
  private warnedStale = false;

  constructor(private readonly box: Box) {}

  /** Beats for the run `started` describes; a forced run holds no lock, so nothing to beat. */
  start(started: StartedInfo): void {
    if (started.forced) return;
    const { id, generation } = started;
    this.timer = setInterval(() => {
      postJson(this.box, `/v1/runs/${id}/heartbeat`, { generation }).catch((error) => {
        if (error instanceof KegError && error.code === "stale" && !this.warnedStale) {
          this.warnedStale = true;
          warn(`${error.message} The run goes on.`);
        }
      });
    }, started.keepalive * 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
