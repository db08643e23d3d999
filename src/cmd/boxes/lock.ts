/** `keg boxes lock --box NAME [--note TEXT] [--wait SECONDS]` (SPEC §5). @module */
import { parseOptionsOnly, secondsOption, stringOption, type OptionDefs } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { postJson, request } from "../../client/http.ts";
import { resultAfterWaiting } from "../../client/waiting.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { boxArgs, waitArgs } from "../_args.ts";

const args = {
  ...boxArgs,
  note: { type: "string", description: "why you reserve it (shown in list and errors)", valueHint: "TEXT" },
  ...waitArgs,
} as const satisfies OptionDefs;

export const lockCommand = defineKegCommand({
  meta: { name: "boxes lock", description: "Reserve a box until you unlock it" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg boxes lock");
    const box = resolveBox(stringOption(parsed, "box"));
    const note = stringOption(parsed, "note");
    const wait = secondsOption(parsed, "wait");
    if (wait === undefined) {
      const { message } = await postJson<{ message: string }>(box, "/v1/lock", { box: box.name, note });
      process.stdout.write(`${message}\n`);
      return 0;
    }
    const response = await request(box, "/v1/lock", {
      method: "POST",
      body: JSON.stringify({ box: box.name, note, wait }),
      headers: { "content-type": "application/json" },
    });
    const { message } = await resultAfterWaiting<{ message: string }>(box.name, response);
    process.stdout.write(`${message}\n`);
    return 0;
  },
});
