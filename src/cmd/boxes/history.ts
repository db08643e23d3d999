/** `keg boxes history --box NAME [--json]`: the latest 50 lock events, newest last (SPEC §5). @module */
import { parseOptionsOnly, stringOption, type OptionDefs } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { getJson } from "../../client/http.ts";
import { renderTable } from "../../client/table.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import type { HistoryEvent } from "../../wire/api.ts";
import { boxArgs, jsonArgs } from "../_args.ts";

const args = { ...boxArgs, ...jsonArgs } as const satisfies OptionDefs;

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

export const historyCommand = defineKegCommand({
  meta: { name: "boxes history", description: "Show the latest 50 lock events of a box" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg boxes history");
    const box = resolveBox(stringOption(parsed, "box"));
    const events = await getJson<HistoryEvent[]>(box, "/v1/history?limit=50");
    if (parsed.options.json) {
      process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
      return 0;
    }
    const rows = events.map((e) => [e.time, e.user, describe(e), e.generation === undefined ? "" : String(e.generation)]);
    process.stdout.write(renderTable(["Time", "User", "Event", "Generation"].map((title) => ({ title })), rows));
    return 0;
  },
});
