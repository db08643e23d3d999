/** `keg-agent users add|list|remove` (SPEC §3); safe while `serve` runs. @module */
import { info } from "../../log.ts";
import { parseWords, stringOption, type OptionDefs } from "../../args.ts";
import { agentStateDir } from "../../config/paths.ts";
import { usageError } from "../../errors.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";

const stateArgs = {
  "state-dir": { type: "string", description: "the agent's state dir", valueHint: "DIR" },
} as const satisfies OptionDefs;
const nameArgs = { name: { type: "positional", description: "user name" }, ...stateArgs } as const satisfies OptionDefs;

async function withState<T>(words: string[], wantName: boolean, step: (state: import("../state.ts").State, name: string) => T) {
  const parsed = parseWords(words, stateArgs);
  const [name, extra] = parsed.positionals;
  if (wantName && !name) throw usageError("Missing NAME. Usage: keg-agent users add NAME [--state-dir DIR].");
  if (extra !== undefined || (!wantName && name !== undefined)) throw usageError(`Unexpected word '${extra ?? name}'.`);
  const { openState } = await import("../state.ts");
  const state = openState(agentStateDir(stringOption(parsed, "state-dir")));
  try {
    return step(state, name ?? "");
  } finally {
    await state.close();
  }
}

const addCommand = defineKegCommand({
  meta: { name: "users add", description: "Add a token for NAME and print it" },
  args: nameArgs,
  async run({ words }: RunContext) {
    const { addUser, validateUserName } = await import("../users.ts");
    const token = await withState(words, true, (state, name) => addUser(state, validateUserName(name)));
    process.stdout.write(`${token}\n`);
  },
});

const listCommand = defineKegCommand({
  meta: { name: "users list", description: "List users and their token counts" },
  args: stateArgs,
  async run({ words }: RunContext) {
    const { listUsers } = await import("../users.ts");
    const users = await withState(words, false, (state) => listUsers(state));
    for (const { user, tokens } of users) process.stdout.write(`${user}\t${tokens} token${tokens === 1 ? "" : "s"}\n`);
  },
});

const removeCommand = defineKegCommand({
  meta: { name: "users remove", description: "Revoke every token of NAME" },
  args: nameArgs,
  async run({ words }: RunContext) {
    const { removeUser } = await import("../users.ts");
    const removed = await withState(words, true, (state, name) => removeUser(state, name));
    info(`Revoked ${removed} token${removed === 1 ? "" : "s"}`);
  },
});

export const usersCommand = defineKegCommand({
  meta: { name: "users", description: "Manage users and tokens" },
  subCommands: { add: addCommand, list: listCommand, remove: removeCommand },
});
