/** `keg python ps --box NAME [--json]` (docs/cli.md "python ps"). @module */
import { info } from "../../log.ts";
import { resolveBox } from "../../config/boxes.ts";
import { getJson } from "../../client/http.ts";
import { renderTable } from "../../client/table.ts";
import { printJson, writeOut } from "../_output.ts";
import { defineCommand } from "../../dispatch.ts";
import type { RunInfo } from "../../wire/api.ts";
import { boxArgs, jsonArgs } from "../_args.ts";

export const psCommand = defineCommand({
  meta: { name: "ps", description: "List the runs of a box" },
  args: { ...boxArgs, ...jsonArgs },
  async run({ args }) {
    const box = resolveBox(args.box);
    const runs = await getJson<RunInfo[]>(box, "/v1/runs");
    if (args.json) return printJson(runs);
    if (!runs.length) {
      info(`No runs on box '${box.name}'`);
      return 0;
    }
    const rows = runs.map((r) => [r.id, r.user, r.runnable, r.started.replace(/\.\d+Z$/, "Z"), r.status + (r.detached ? " (detached)" : ""), r.exit_code === null ? "" : String(r.exit_code)]);
    return writeOut(renderTable(["Id", "User", "Runnable", "Started", "Status", "Exit"].map((title) => ({ title })), rows));
  },
});
