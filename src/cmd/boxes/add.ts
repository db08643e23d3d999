/** `keg boxes add [--name NAME] --address URL --token TOKEN` (docs/cli.md "boxes add"). @module */
import { info } from "../../log.ts";
import { isAddress, updateBoxes, validBoxName } from "../../config/boxes.ts";
import { KegError, usageError } from "../../errors.ts";
import { getJson } from "../../client/http.ts";
import { defineCommand } from "../../dispatch.ts";
import type { Identity } from "../../wire/api.ts";

export const addCommand = defineCommand({
  meta: { name: "add", description: "Register a box (checks the token with the agent)" },
  args: {
    name: { type: "string", description: "name for the box (default: the agent's --name)", valueHint: "NAME" },
    address: { type: "string", description: "agent address, like http://lab-box:7350", valueHint: "URL", required: true },
    token: { type: "string", description: "token from 'keg-agent users add' on the box", valueHint: "TOKEN", required: true },
  },
  async run({ args }) {
    const address = args.address.replace(/\/$/, "");
    if (!isAddress(address)) throw usageError(`--address takes a URL like http://lab-box:7350, not '${address}'.`);
    if (args.name !== undefined && !validBoxName(args.name))
      throw usageError(`--name '${args.name}' is not a valid box name. Use letters, digits, '.', '_' or '-'.`);
    const identity = await getJson<Identity>({ name: args.name ?? address, address, token: args.token }, "/v1/whoami", { timeoutMs: 4000 });
    const name = args.name ?? identity.name;
    if (!validBoxName(name)) throw usageError(`The agent's name '${name}' is not a valid box name. Give one with --name.`);
    await updateBoxes((boxes) => {
      if (boxes.some((b) => b.name === name))
        throw new KegError("failed", `Box '${name}' already exists. Remove it first with 'keg boxes remove --name ${name}'.`);
      return [...boxes, { name, address, token: args.token, user: identity.user, version: identity.version }];
    });
    info(`Added box '${name}' at ${address} as ${identity.user} (agent ${identity.version})`);
    return 0;
  },
});
