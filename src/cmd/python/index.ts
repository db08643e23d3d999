/** `keg python …`: run, ps, and --kill / --kill-all / --reattach (docs/cli.md "python"). @module */
import { resolveBox } from "../../config/boxes.ts";
import { usageError } from "../../errors.ts";
import { escapeControl } from "../../text/escape.ts";
import { RUN_ID } from "../../wire/names.ts";
import { defineCommand } from "../../dispatch.ts";
import { boxArgs, runArgs } from "../_args.ts";

export const pythonCommand = defineCommand({
  meta: { name: "python", description: "Run Python scripts on a box, and manage runs" },
  args: {
    kill: { type: "string", description: "signal run ID (default SIGTERM)", valueHint: "ID" },
    signal: { type: "string", description: "signal for --kill: SIGINT SIGQUIT SIGABRT SIGKILL SIGUSR1 SIGUSR2 SIGTERM SIGSTOP", valueHint: "SIG" },
    "kill-all": { type: "boolean", description: "stop every running run of the box" },
    reattach: { type: "string", description: "replay run ID's output and follow it to its end", valueHint: "ID" },
    port: { ...runArgs.port, description: "with --reattach: forward 127.0.0.1:DST here to the box's SRC while the run lasts" },
    ...boxArgs,
  },
  subCommands: {
    run: () => import("./run.ts").then((m) => m.runCommand),
    ps: () => import("./ps.ts").then((m) => m.psCommand),
  },
  async run({ args }) {
    const chosen = [args.kill !== undefined, args["kill-all"], args.reattach !== undefined].filter(Boolean).length;
    if (chosen !== 1) throw usageError("Give one of: python run, python ps, --kill ID, --kill-all, --reattach ID.");
    if (args.signal !== undefined && args.kill === undefined) throw usageError("--signal goes with --kill ID.");
    if (args.port.length && args.reattach === undefined) throw usageError("-p goes with --reattach ID (or python run).");
    const { parsePortSpecs } = await import("../../client/port-spec.ts");
    const ports = parsePortSpecs(args.port);
    for (const [flag, id] of [["--kill", args.kill], ["--reattach", args.reattach]] as const)
      if (id !== undefined && !RUN_ID.test(id)) throw usageError(`${flag} '${escapeControl(id)}' is not a run id. Give an id as 'keg python ps' shows it.`);
    const box = resolveBox(args.box);
    const manage = await import("../../client/manage-runs.ts");
    if (args["kill-all"]) return manage.killAll(box);
    if (args.kill !== undefined) return manage.killRun(box, args.kill, args.signal);
    return manage.reattach(box, args.reattach!, ports);
  },
});
