/** `keg boxes add [--name NAME] --address URL --token TOKEN` (SPEC §4). @module */
import { info } from "../../log.ts";
import { parseOptionsOnly, stringOption, type OptionDefs } from "../../args.ts";
import { isAddress, updateBoxes } from "../../config/boxes.ts";
import { KegError, usageError } from "../../errors.ts";
import { getJson } from "../../client/http.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import type { Identity } from "../../wire/api.ts";

const args = {
  name: { type: "string", description: "name for the box (default: the agent's --name)", valueHint: "NAME" },
  address: { type: "string", description: "agent address, like http://lab-box:7350", valueHint: "URL", required: true },
  token: { type: "string", description: "token from 'keg-agent users add' on the box", valueHint: "TOKEN", required: true },
} as const satisfies OptionDefs;

export const validBoxName = (name: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);

export const addCommand = defineKegCommand({
  meta: { name: "boxes add", description: "Register a box (checks the token with the agent)" },
  args,
  async run({ words }: RunContext) {
    const parsed = parseOptionsOnly(words, args, "keg boxes add");
    const address = stringOption(parsed, "address")!.replace(/\/$/, "");
    if (!isAddress(address)) throw usageError(`--address takes a URL like http://lab-box:7350, not '${address}'.`);
    const given = stringOption(parsed, "name");
    if (given !== undefined && !validBoxName(given))
      throw usageError(`--name '${given}' is not a valid box name. Use letters, digits, '.', '_' or '-'.`);
    const token = stringOption(parsed, "token")!;
    const identity = await getJson<Identity>({ name: given ?? address, address, token }, "/v1/whoami", { timeoutMs: 4000 });
    const name = given ?? identity.name;
    if (!validBoxName(name)) throw usageError(`The agent's name '${name}' is not a valid box name. Give one with --name.`);
    await updateBoxes((boxes) => {
      if (boxes.some((b) => b.name === name))
        throw new KegError("failed", `Box '${name}' already exists. Remove it first with 'keg boxes remove --name ${name}'.`);
      return [...boxes, { name, address, token, user: identity.user, version: identity.version }];
    });
    info(`Added box '${name}' at ${address} as ${identity.user} (agent ${identity.version})`);
  },
});
