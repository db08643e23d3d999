/** `keg pip --box NAME [--wait SECONDS] PIP_ARGS...` (docs/cli.md "keg pip"). @module */
import { defineCommand } from "../dispatch.ts";
import { boxArgs, waitArgs } from "./_args.ts";

export const pipCommand = defineCommand({
  meta: { name: "pip", description: "Run pip in the box's Python venv: keg pip --box NAME install ./dist/x.whl (every other word goes to pip)" },
  args: { ...boxArgs, ...waitArgs },
  // Every word but keg's own options reaches pip untouched, --help and --no-index included.
  mode: "pass",
  async run({ args, rest, force }) {
    // Loaded here: the usage needs only this module.
    const { startPip } = await import("./_pip.ts");
    return startPip(args, rest, force);
  },
});
