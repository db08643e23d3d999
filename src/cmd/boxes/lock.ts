/** `keg boxes lock --box NAME [--note TEXT] [--wait SECONDS]` (docs/locks.md "User lock"). @module */
import { parseSeconds } from "../../args.ts";
import { resolveBox } from "../../config/boxes.ts";
import { postJson, request } from "../../client/http.ts";
import { resultAfterWaiting } from "../../client/waiting.ts";
import { defineCommand } from "../../dispatch.ts";
import { usageError } from "../../errors.ts";
import { MAX_NOTE_CHARS } from "../../wire/limits.ts";
import { escapeControl } from "../../text/escape.ts";
import { writeOut } from "../_output.ts";
import { boxArgs, waitArgs } from "../_args.ts";

export const lockCommand = defineCommand({
  meta: { name: "lock", description: "Reserve a box until you unlock it" },
  args: {
    ...boxArgs,
    note: { type: "string", description: "why you reserve it (shown in list and errors)", valueHint: "TEXT" },
    ...waitArgs,
  },
  async run({ args }) {
    if (args.note !== undefined && args.note.length > MAX_NOTE_CHARS)
      throw usageError(`--note is ${args.note.length.toLocaleString("en-US")} characters, over the limit of ${MAX_NOTE_CHARS.toLocaleString("en-US")}. Shorten it.`);
    const box = resolveBox(args.box);
    const wait = parseSeconds(args.wait, "wait");
    const body = { box: box.name, note: args.note, wait };
    if (wait === undefined) {
      const { message } = await postJson<{ message: string }>(box, "/v1/lock", body);
      return writeOut(`${escapeControl(message)}\n`);
    }
    const response = await request(box, "/v1/lock", { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const { message } = await resultAfterWaiting<{ message: string }>(box.name, response);
    return writeOut(`${escapeControl(message)}\n`);
  },
});
