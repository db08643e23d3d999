/** `keg python run RUNNABLE [ARGS...] --box NAME [run options]` (SPEC §4). @module */
import { parseWords } from "../../args.ts";
import { usageError } from "../../errors.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { runArgs } from "../_args.ts";

const args = {
  runnable: { type: "positional", description: "a .py file, or a directory with a main.py", required: true },
  ...runArgs,
} as const;

export const runCommand = defineKegCommand({
  meta: { name: "python run", description: "Run a Python script on a box, live" },
  args,
  async run({ words, force }: RunContext) {
    // Words after RUNNABLE that are not keg options are the script's (SPEC §4).
    const parsed = parseWords(words, runArgs, { looseAfterPositionals: 1 });
    const [runnable, ...scriptArgs] = parsed.positionals;
    if (!runnable) throw usageError("No script given. Usage: keg python run RUNNABLE [ARGS...] --box NAME.");
    // Loaded here: `--help` needs only this module, not the packer and the session.
    const { startRun } = await import("../_run.ts");
    return startRun(parsed, "python", runnable, [...scriptArgs, ...parsed.rest], force);
  },
});
