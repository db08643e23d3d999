/** `keg boxes unlock --box NAME [--force]` (SPEC §5). @module */
import { parseOptionsOnly, stringOption, type OptionDefs } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { postJson } from "../../client/http.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { boxArgs } from "../_args.ts";

const args = {
  ...boxArgs,
  force: { type: "boolean", description: "remove another user's lock" },
} as const satisfies OptionDefs;

export const unlockCommand = defineKegCommand({
  meta: { name: "boxes unlock", description: "Release your reservation of a box" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg boxes unlock");
    const box = resolveBox(stringOption(parsed, "box"));
    const { message } = await postJson<{ message: string }>(box, "/v1/unlock", { box: box.name, force: Boolean(parsed.options.force) });
    process.stdout.write(`${message}\n`);
    return 0;
  },
});
