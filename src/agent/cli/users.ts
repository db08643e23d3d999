/** `keg-agent users add|list|remove` (docs/cli.md "keg-agent users"); beside `serve` they ask it (src/agent/users-socket.ts). @module */
import { info } from "../../log.ts";
import type { ArgDefs } from "../../args.ts";
import { agentStateDir } from "../../config/paths.ts";
import { defineCommand } from "../../dispatch.ts";
import { writeOut } from "../../stdout.ts";
import { KegError } from "../../errors.ts";
import type { UsersAnswers, UsersRequest } from "../users-socket.ts";

const stateArgs = {
  "state-dir": { type: "string", description: "the agent's state dir", valueHint: "DIR" },
} as const satisfies ArgDefs;
const nameArgs = { name: { type: "positional", description: "user name", required: true }, ...stateArgs } as const satisfies ArgDefs;

/** One request, carried out by the agent serving the state dir or, with none, here (src/agent/users-socket.ts). */
async function usersRequest<R extends UsersRequest>(stateDir: string | undefined, request: R): Promise<UsersAnswers[R["op"]]> {
  const { carryOutUsers } = await import("../users-socket.ts");
  const answer = await carryOutUsers(agentStateDir(stateDir), request);
  if ("error" in answer) throw new KegError(answer.error.code, answer.error.message);
  // The agent answers a request with its op's answer (answerUsers).
  return answer as UsersAnswers[R["op"]];
}

const addCommand = defineCommand({
  meta: { name: "add", description: "Add a token for NAME and print it" },
  args: nameArgs,
  async run({ args }) {
    const { validateUserName } = await import("../users.ts");
    const { token } = await usersRequest(args["state-dir"], { op: "add", name: validateUserName(args.name) });
    return writeOut(`${token}\n`);
  },
});

const listCommand = defineCommand({
  meta: { name: "list", description: "List users and their token counts" },
  args: stateArgs,
  async run({ args }) {
    const { users } = await usersRequest(args["state-dir"], { op: "list" });
    return writeOut(users.map(({ user, tokens }) => `${user}\t${tokens} token${tokens === 1 ? "" : "s"}\n`).join(""));
  },
});

const removeCommand = defineCommand({
  meta: { name: "remove", description: "Revoke every token of NAME" },
  args: nameArgs,
  async run({ args }) {
    const { removed } = await usersRequest(args["state-dir"], { op: "remove", name: args.name });
    info(`Revoked ${removed} token${removed === 1 ? "" : "s"}`);
    return 0;
  },
});

export const usersCommand = defineCommand({
  meta: { name: "users", description: "Manage users and tokens" },
  subCommands: { add: addCommand, list: listCommand, remove: removeCommand },
});
