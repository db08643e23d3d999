/** `keg-agent supervise RUN_DIR`: internal, started by the agent for each run. @module */
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { usageError } from "../../errors.ts";

export const superviseCommand = defineKegCommand({
  meta: { name: "supervise", description: "(internal) supervise one run", hidden: true },
  async run({ words }: RunContext) {
    if (words.length > 1) throw usageError("Usage: keg-agent supervise [RUN_DIR] (started by the agent itself).");
    const { supervise } = await import("../supervise.ts");
    return supervise(words[0]);
  },
});
