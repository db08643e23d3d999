/** `keg python ps --box NAME [--json]` (SPEC §6). @module */
import { info } from "../../log.ts";
import { parseOptionsOnly, stringOption, type OptionDefs } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { getJson } from "../../client/http.ts";
import { renderTable } from "../../client/table.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import type { RunInfo } from "../../wire/api.ts";
import { boxArgs, jsonArgs } from "../_args.ts";

const args = { ...boxArgs, ...jsonArgs } as const satisfies OptionDefs;

export const psCommand = defineKegCommand({
  meta: { name: "python ps", description: "List the runs of a box" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg python ps");
    const box = resolveBox(stringOption(parsed, "box"));
    const runs = await getJson<RunInfo[]>(box, "/v1/runs");
    if (parsed.options.json) {
      process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      return 0;
    }
    if (!runs.length) {
      info(`No runs on box '${box.name}'`);
      return 0;
    }
    const rows = runs.map((r) => [r.id, r.user, r.runnable, r.started.replace(/\.\d+Z$/, "Z"), r.status + (r.detached ? " (detached)" : ""), r.exit_code === null ? "" : String(r.exit_code)]);
    process.stdout.write(renderTable(["Id", "User", "Runnable", "Started", "Status", "Exit"].map((title) => ({ title })), rows));
    return 0;
  },
});
