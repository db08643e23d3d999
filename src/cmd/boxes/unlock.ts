/** `keg boxes unlock --box NAME [--force]` (docs/locks.md "User lock"). @module */
import { resolveBox } from "../../config/boxes.ts";
import { postJson } from "../../client/http.ts";
import { defineCommand } from "../../dispatch.ts";
import { escapeControl } from "../../text/escape.ts";
import { writeOut } from "../_output.ts";
import { boxArgs } from "../_args.ts";

export const unlockCommand = defineCommand({
  meta: { name: "unlock", description: "Release your reservation of a box" },
  args: { ...boxArgs, force: { type: "boolean", description: "remove another user's lock" } },
  async run({ args }) {
    const box = resolveBox(args.box);
    const { message } = await postJson<{ message: string }>(box, "/v1/unlock", { box: box.name, force: args.force });
    return writeOut(`${escapeControl(message)}\n`);
  },
});
