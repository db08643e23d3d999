/** `keg boxes remove --name NAME` (SPEC §4). @module */
import { info } from "../../log.ts";
import { parseOptionsOnly, stringOption, type OptionDefs } from "../../args.ts";
import { updateBoxes } from "../../config/boxes.ts";
import { KegError } from "../../errors.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";

const args = {
  name: { type: "string", description: "the box to forget", valueHint: "NAME", required: true },
} as const satisfies OptionDefs;

export const removeCommand = defineKegCommand({
  meta: { name: "boxes remove", description: "Forget a box" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg boxes remove");
    const name = stringOption(parsed, "name")!;
    await updateBoxes((boxes) => {
      if (!boxes.some((b) => b.name === name)) {
        const known = boxes.map((b) => b.name).join(", ") || "none";
        throw new KegError("not_found", `Unknown box '${name}'. Known boxes: ${known}.`);
      }
      return boxes.filter((b) => b.name !== name);
    });
    info(`Removed box '${name}'`);
  },
});
