/** Lock history events as operator log lines (docs/usage.md "Operating a box"). @module */
import type { HistoryEvent } from "../wire/api.ts";
import { logEvent } from "./log.ts";

const FORCED: ReadonlySet<HistoryEvent["event"]> = new Set(["forced-unlock", "forced-command"]);

export function logLockEvent(event: HistoryEvent): void {
  logEvent("lock", {
    kind: event.event,
    user: event.user,
    holder: event.holder,
    command: event.command,
    generation: event.generation,
    note: event.note,
    forced: FORCED.has(event.event) || undefined,
  });
}
