/** `keg python run RUNNABLE [ARGS...] --box NAME [run options]` (docs/cli.md "python run"). @module */
import { defineCommand } from "../../dispatch.ts";
import { runArgs } from "../_args.ts";

export const runCommand = defineCommand({
  meta: { name: "run", description: "Run a Python script on a box, live" },
  args: {
    runnable: { type: "positional", description: "a .py file, or a directory with a main.py", required: true },
    ...runArgs,
    cold: { type: "boolean", description: "start a fresh interpreter even when the box keeps a warm one" },
  },
  // Words after RUNNABLE that are not keg options are the script's (docs/cli.md "Words and options").
  mode: "script",
  async run({ args, rest, force }) {
    // Loaded here: `--help` needs only this module, not the packer and the session.
    const { startRun } = await import("../_run.ts");
    return startRun(args, "python", args.runnable, rest, force, { cold: args.cold });
  },
});
