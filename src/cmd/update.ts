/** `keg update (--box NAME | --all) [--agent-binary PATH]`: put a new keg-agent on boxes (docs/cli.md "keg update"). @module */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readBoxes, resolveBox, type Box } from "../config/boxes.ts";
import { agentPicker, eachBounded, updateBox, type AgentPicker, type UpdateOutcome } from "../client/update.ts";
import { defineCommand } from "../dispatch.ts";
import { failure, KegError, usageError } from "../errors.ts";
import { info } from "../log.ts";
import { escapeControl } from "../text/escape.ts";
import { writeOut } from "./_output.ts";
import { boxArgs } from "./_args.ts";

/** Boxes updated at once by --all: the binary is ~120 MB a box, sent from one laptop. */
export const UPDATE_PARALLEL = 6;

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

/** --agent-binary, checked before any box is asked; else the agent beside this keg, per box platform. */
function picker(given: string | undefined): AgentPicker {
  if (given && !isFile(resolve(given))) throw failure(`--agent-binary ${given} is not a file. Give the path of a keg-agent binary.`);
  if (given && statSync(resolve(given)).size === 0) throw failure(`--agent-binary ${given} is empty. Give the path of a keg-agent binary.`);
  return agentPicker(given && resolve(given), dirname(process.execPath), isFile);
}

/** One line of `update --all`. */
export function outcomeLine(box: Box, outcome: UpdateOutcome): string {
  const says = {
    updated: () => `updated to ${escapeControl((outcome as { version: string }).version)}`,
    current: () => `already at ${escapeControl((outcome as { version: string }).version)}`,
    skipped: () => "SKIPPED (locked or busy)",
    offline: () => "offline",
    failed: () => `failed: ${(outcome as { reason: string }).reason}`,
  }[outcome.kind]();
  return `  ${box.name}: ${says}\n`;
}

async function updateAll(pick: AgentPicker, force: boolean): Promise<number> {
  const boxes = readBoxes();
  if (!boxes.length) {
    info("No boxes yet. Add one with 'keg boxes add --address URL --token TOKEN'.");
    return 0;
  }
  let code = await writeOut("Updating all boxes...\n");
  // Lines come in list order: each is printed once it and every box before it are done.
  const done: (UpdateOutcome | undefined)[] = [];
  let printed = 0;
  let printing = Promise.resolve();
  const flush = () => {
    while (printed < boxes.length && done[printed]) {
      const line = outcomeLine(boxes[printed]!, done[printed]!);
      printed++;
      printing = printing.then(async () => void (code ||= await writeOut(line)));
    }
  };
  await eachBounded(boxes, UPDATE_PARALLEL, (box) => updateBox(box, pick, force), (index, outcome) => {
    done[index] = outcome;
    flush();
  });
  await printing;
  const bad = done.some((outcome) => outcome!.kind === "failed" || outcome!.kind === "offline");
  return code || (bad ? 1 : 0);
}

async function updateOne(name: string | undefined, pick: AgentPicker, force: boolean): Promise<number> {
  const box = resolveBox(name);
  const outcome = await updateBox(box, pick, force);
  switch (outcome.kind) {
    case "updated":
    case "current":
      return writeOut(outcomeLine(box, outcome).trimStart());
    case "skipped":
    case "offline":
      throw outcome.error;
    case "failed":
      throw new KegError("failed", `Update of box '${box.name}' failed: ${outcome.reason}.`);
  }
}

export const updateCommand = defineCommand({
  meta: { name: "update", description: "Install the keg-agent beside this keg (or --agent-binary) on a box, or on every box" },
  args: {
    ...boxArgs,
    all: { type: "boolean", description: "update every box, in parallel; skip locked or busy ones" },
    "agent-binary": { type: "string", description: "the keg-agent to install (default: the one next to keg)", valueHint: "PATH" },
  },
  async run({ args, force }) {
    if (args.all && args.box) throw usageError("Give --box NAME or --all, not both. See 'keg update --help'.");
    const pick = picker(args["agent-binary"]);
    return args.all ? updateAll(pick, force) : updateOne(args.box, pick, force);
  },
});
