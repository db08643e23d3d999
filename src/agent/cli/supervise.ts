/** `keg-agent supervise`: internal, started by the agent for each run, its orders on stdin (docs/usage.md "Runs"). @module */
import { defineCommand } from "../../dispatch.ts";

export const superviseCommand = defineCommand({
  meta: { name: "supervise", description: "(internal) supervise one run", hidden: true },
  async run() {
    const { supervise } = await import("../supervise.ts");
    return supervise();
  },
});
