/** `keg boxes history --box NAME [--json]`: the latest 50 lock events, newest last (docs/locks.md "History"). @module */
import { resolveBox } from "../../config/boxes.ts";
import { getJson } from "../../client/http.ts";
import { renderTable } from "../../client/table.ts";
import { defineCommand } from "../../dispatch.ts";
import type { HistoryEvent } from "../../wire/api.ts";
import { printJson, writeOut } from "../_output.ts";
import { boxArgs, jsonArgs } from "../_args.ts";

const describe = (e: HistoryEvent): string => {
  switch (e.event) {
    case "locked":
      return `locked the box${e.note ? ` (${e.note})` : ""}`;
    case "unlocked":
      return "unlocked the box";
    case "forced-unlock":
      return `forced the unlock of ${e.holder}'s lock${e.note ? ` (${e.note})` : ""}`;
    case "command-taken":
      return `took the command lock for '${e.command}'`;
    case "command-released":
      return `released the command lock of '${e.command}'`;
    case "command-stale":
      return `took over ${e.holder}'s stale command lock ('${e.command}')`;
    case "forced-command":
      return `ran '${e.command}' with --force-command${e.holder ? ` past ${e.holder}'s lock` : ""}`;
    case "cleared-at-start":
      return `lost the command lock of '${e.command}': the agent restarted`;
  }
};

export const historyCommand = defineCommand({
  meta: { name: "history", description: "Show the latest 50 lock events of a box" },
  args: { ...boxArgs, ...jsonArgs },
  async run({ args }) {
    const box = resolveBox(args.box);
    const events = await getJson<HistoryEvent[]>(box, "/v1/history?limit=50");
    if (args.json) return printJson(events);
    const rows = events.map((e) => [e.time, e.user, describe(e), e.generation === undefined ? "" : String(e.generation)]);
    return writeOut(renderTable(["Time", "User", "Event", "Generation"].map((title) => ({ title })), rows));
  },
});
