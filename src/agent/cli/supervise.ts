/** `keg-agent supervise [RUN_DIR]`: internal, started by the agent for each run (docs/api.md "Runs"). @module */
import { defineCommand } from "../../dispatch.ts";

export const superviseCommand = defineCommand({
  meta: { name: "supervise", description: "(internal) supervise one run", hidden: true },
  args: { runDir: { type: "positional", description: "the run folder (else read from stdin)" } },
  async run({ args }) {
    const { supervise } = await import("../supervise.ts");
    return supervise(args.runDir);
  },
});
