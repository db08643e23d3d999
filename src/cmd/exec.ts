/** `keg exec --box NAME [run options] -- COMMAND [ARGS...]` (SPEC §4). @module */
import { parseWords } from "../args.ts";
import { usageError } from "../errors.ts";
import { defineKegCommand, type RunContext } from "../dispatch.ts";
import { runArgs } from "./_args.ts";

export const execCommand = defineKegCommand({
  meta: { name: "exec", description: "Run any program on a box: keg exec --box NAME -- COMMAND [ARGS...]" },
  args: runArgs,
  async run({ words, force }: RunContext) {
    const parsed = parseWords(words, runArgs, { looseAfterPositionals: 1 });
    const argv = [...parsed.positionals, ...parsed.rest];
    if (!argv.length) throw usageError("No command given. Usage: keg exec --box NAME -- COMMAND [ARGS...].");
    // Loaded here: `--help` needs only this module, not the packer and the session.
    const { startRun } = await import("./_run.ts");
    return startRun(parsed, "exec", undefined, argv, force);
  },
});
