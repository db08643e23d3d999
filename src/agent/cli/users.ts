/** `keg-agent users add|list|remove` (docs/cli.md "keg-agent users"); safe while `serve` runs. @module */
import { info } from "../../log.ts";
import type { ArgDefs } from "../../args.ts";
import { agentStateDir } from "../../config/paths.ts";
import { defineCommand } from "../../dispatch.ts";
import { writeOut } from "../../stdout.ts";
import type { State } from "../state.ts";

const stateArgs = {
  "state-dir": { type: "string", description: "the agent's state dir", valueHint: "DIR" },
} as const satisfies ArgDefs;
const nameArgs = { name: { type: "positional", description: "user name", required: true }, ...stateArgs } as const satisfies ArgDefs;

async function withState<T>(stateDir: string | undefined, step: (state: State) => T): Promise<T> {
  const { openState } = await import("../state.ts");
  const state = openState(agentStateDir(stateDir));
  try {
    return step(state);
  } finally {
    await state.close();
  }
}

const addCommand = defineCommand({
  meta: { name: "add", description: "Add a token for NAME and print it" },
  args: nameArgs,
  async run({ args }) {
    const { addUser, validateUserName } = await import("../users.ts");
    const name = validateUserName(args.name);
    const token = await withState(args["state-dir"], (state) => addUser(state, name));
    return writeOut(`${token}\n`);
  },
});

const listCommand = defineCommand({
  meta: { name: "list", description: "List users and their token counts" },
  args: stateArgs,
  async run({ args }) {
    const { listUsers } = await import("../users.ts");
    const users = await withState(args["state-dir"], (state) => listUsers(state));
    return writeOut(users.map(({ user, tokens }) => `${user}\t${tokens} token${tokens === 1 ? "" : "s"}\n`).join(""));
  },
});

const removeCommand = defineCommand({
  meta: { name: "remove", description: "Revoke every token of NAME" },
  args: nameArgs,
  async run({ args }) {
    const { removeUser } = await import("../users.ts");
    const removed = await withState(args["state-dir"], (state) => removeUser(state, args.name));
    info(`Revoked ${removed} token${removed === 1 ? "" : "s"}`);
    return 0;
  },
});

export const usersCommand = defineCommand({
  meta: { name: "users", description: "Manage users and tokens" },
  subCommands: { add: addCommand, list: listCommand, remove: removeCommand },
});
