/** `keg boxes remove --name NAME` (docs/cli.md "boxes remove"). @module */
import { info } from "../../log.ts";
import { updateBoxes } from "../../config/boxes.ts";
import { KegError } from "../../errors.ts";
import { defineCommand } from "../../dispatch.ts";

export const removeCommand = defineCommand({
  meta: { name: "remove", description: "Forget a box" },
  args: { name: { type: "string", description: "the box to forget", valueHint: "NAME", required: true } },
  async run({ args }) {
    await updateBoxes((boxes) => {
      if (!boxes.some((b) => b.name === args.name)) {
        const known = boxes.map((b) => b.name).join(", ") || "none";
        throw new KegError("not_found", `Unknown box '${args.name}'. Known boxes: ${known}.`);
      }
      return boxes.filter((b) => b.name !== args.name);
    });
    info(`Removed box '${args.name}'`);
    return 0;
  },
});
