/** `keg exec --box NAME [run options] -- COMMAND [ARGS...]` (docs/cli.md "exec"). @module */
import { defineCommand } from "../dispatch.ts";
import { runArgs } from "./_args.ts";

export const execCommand = defineCommand({
  meta: { name: "exec", description: "Run any program on a box: keg exec --box NAME -- COMMAND [ARGS...]" },
  args: { command: { type: "positional", description: "the program to run on the box, then its arguments", required: true }, ...runArgs },
  mode: "script",
  async run({ args, rest, force }) {
    // Loaded here: `--help` needs only this module, not the packer and the session.
    const { startRun } = await import("./_run.ts");
    return startRun(args, "exec", undefined, [args.command, ...rest], force);
  },
});
