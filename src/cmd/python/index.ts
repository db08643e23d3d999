/** `keg python …`: run, ps, and --kill / --kill-all / --reattach (SPEC §4). @module */
import { parseWords, stringOption, type OptionDefs } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { usageError } from "../../errors.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { boxArgs } from "../_args.ts";

const args = {
  kill: { type: "string", description: "signal run ID (default SIGTERM)", valueHint: "ID" },
  signal: { type: "string", description: "signal for --kill: SIGINT SIGQUIT SIGABRT SIGKILL SIGUSR1 SIGUSR2 SIGTERM SIGSTOP", valueHint: "SIG" },
  "kill-all": { type: "boolean", description: "stop every running run of the box" },
  reattach: { type: "string", description: "replay run ID's output and follow it to its end", valueHint: "ID" },
  ...boxArgs,
} as const satisfies OptionDefs;

export const pythonCommand = defineKegCommand({
  meta: { name: "python", description: "Run Python scripts on a box, and manage runs" },
  args,
  subCommands: {
    run: () => import("./run.ts").then((m) => m.runCommand),
    ps: () => import("./ps.ts").then((m) => m.psCommand),
  },
  async run({ words }: RunContext) {
    const parsed = parseWords(words, args);
    if (parsed.positionals.length) throw usageError(`Unknown command 'python ${parsed.positionals[0]}'. Commands: run, ps.`);
    const chosen = ["kill", "kill-all", "reattach"].filter((name) => parsed.options[name] !== undefined);
    if (chosen.length !== 1) throw usageError("Give one of: python run, python ps, --kill ID, --kill-all, --reattach ID.");
    const box = resolveBox(stringOption(parsed, "box"));
    const manage = await import("../../client/manage-runs.ts");
    if (parsed.options["kill-all"]) return manage.killAll(box);
    if (parsed.options.kill !== undefined) return manage.killRun(box, stringOption(parsed, "kill")!, stringOption(parsed, "signal"));
    return manage.reattach(box, stringOption(parsed, "reattach")!);
  },
});
