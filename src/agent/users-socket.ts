/**
 * `keg-agent users` beside a serving agent (docs/cli.md "keg-agent users"):
 * one process at a time writes a state dir (two processes writing one LMDB
 * environment broke commits: docs/development.md "LMDB"), so while `serve`
 * runs, `users add`, `list` and `remove` ask it over a Unix socket in the
 * state dir, which is its owner's alone (docs/security.md). With no agent
 * serving they claim the state and write it themselves (src/agent/serve-claim.ts).
 * @module
 */
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KegError, type ErrorCode } from "../errors.ts";
import { connectUnix, serveUnixLines } from "../platform/index.ts";
import { info } from "../log.ts";
import { sleep } from "../sleep.ts";
import { describeError, logEvent } from "./log.ts";
import { claimUsersWrite, servingAgentOf } from "./serve-claim.ts";
import { openState, type State } from "./state.ts";
import { addUser, listUsers, removeUser, validateUserName } from "./users.ts";

export type UsersRequest = { op: "add"; name: string } | { op: "remove"; name: string } | { op: "list" };
/** What each request is answered with when it is carried out. */
export type UsersAnswers = { add: { token: string }; remove: { removed: number }; list: { users: { user: string; tokens: number }[] } };
export type UsersAnswer = UsersAnswers[keyof UsersAnswers] | { error: { code: ErrorCode; message: string } };

/** A request line is small (a name is at most 64 characters); an answer comes within this or the agent is not there. */
const MAX_REQUEST_BYTES = 4096;
const ANSWER_MS = 10_000;
/** An agent starting opens its socket within this; it is asked again meanwhile. */
const SOCKET_WAIT_MS = 10_000;
const SOCKET_POLL_MS = 20;
/** `users list` of many users: still a bounded answer. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export const usersSocketPath = (stateDir: string) => join(stateDir, "users.sock");

/** Carries out one request on `state`; refusals are answers, not throws. */
export function answerUsers(state: State, request: UsersRequest): UsersAnswer {
  try {
    if (request.op === "add") return { token: addUser(state, validateUserName(request.name)) };
    if (request.op === "remove") return { removed: removeUser(state, request.name) };
    return { users: listUsers(state) };
  } catch (error) {
    if (error instanceof KegError) return { error: { code: error.code, message: error.message } };
    throw error;
  }
}

function parseRequest(line: string): UsersRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const request = value as Partial<{ op: unknown; name: unknown }>;
  if (request?.op === "list") return { op: "list" };
  if ((request?.op === "add" || request?.op === "remove") && typeof request.name === "string" && request.name.length <= 256) return { op: request.op, name: request.name };
  return undefined;
}

/** The serving agent's side: listens until `close()`; a stale socket file of a previous life goes first. */
export function serveUsers(state: State, stateDir: string): { close(): void } {
  const path = usersSocketPath(stateDir);
  rmSync(path, { force: true });
  const server = serveUnixLines(path, MAX_REQUEST_BYTES, async (line) => {
    const request = parseRequest(line);
    if (!request) return JSON.stringify({ error: { code: "bad_request", message: "Not a users request. Use keg-agent users add|list|remove." } });
    let answer: UsersAnswer;
    try {
      answer = answerUsers(state, request);
    } catch (error) {
      logEvent("error", { during: `users ${request.op}`, cause: describeError(error) });
      answer = { error: { code: "failed", message: `The state could not be changed: ${describeError(error)}` } };
    }
    // Never the token: the user, and what was done.
    if (!("error" in answer) && request.op !== "list") logEvent(request.op === "add" ? "user-added" : "user-removed", { user: request.name });
    return JSON.stringify(answer);
  });
  chmodSync(path, 0o600);
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      server.close();
      rmSync(path, { force: true });
    },
  };
}

/** The command's side: the serving agent's answer; "absent" when nothing listens, "cut" when the connection ended without an answer. */
async function askServingAgent(stateDir: string, request: UsersRequest): Promise<UsersAnswer | "absent" | "cut"> {
  let connection;
  try {
    connection = await connectUnix(usersSocketPath(stateDir));
  } catch {
    return "absent";
  }
  const socket = connection;
  return new Promise<UsersAnswer | "cut">((resolve, reject) => {
    const decoder = new TextDecoder();
    let text = "";
    const timer = setTimeout(() => fail("the agent serving this state dir did not answer"), ANSWER_MS);
    function fail(why: string) {
      clearTimeout(timer);
      socket.close();
      reject(new KegError("failed", `${why}. Check it with 'systemctl status keg-agent' (or its log), then run the command again.`));
    }
    socket.onData = (chunk) => {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > MAX_ANSWER_BYTES) fail("the agent's answer was too long");
    };
    socket.onClose = () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as UsersAnswer);
      } catch {
        resolve("cut");
      }
    };
    socket.write(`${JSON.stringify(request)}\n`);
  });
}

/**
 * Carries out `request` on the state in `stateDir`: by the agent serving it
 * when there is one (once its socket is open), else here under a users claim.
 * An agent that ends the request without an answer (it was stopped or killed
 * meanwhile) is not asked again: the request goes to whoever serves after it,
 * or is carried out here (a token it added unanswered is one nobody knows).
 */
export async function carryOutUsers(stateDir: string, request: UsersRequest): Promise<UsersAnswer> {
  const deadline = Date.now() + SOCKET_WAIT_MS;
  let told = false;
  let cutBy = 0;
  for (;;) {
    const agent = servingAgentOf(stateDir);
    if (agent) {
      const answer = agent === cutBy ? "cut" : await askServingAgent(stateDir, request);
      if (typeof answer === "object") return answer;
      if (answer === "cut") cutBy = agent;
      if (Date.now() > deadline)
        throw new KegError(
          "failed",
          answer === "cut"
            ? `The keg-agent serving ${stateDir} (pid ${agent}) ended the request without an answer. Check it with 'systemctl status keg-agent' (or its log), then run the command again.`
            : `The keg-agent serving ${stateDir} (pid ${agent}) did not open its users socket within ${SOCKET_WAIT_MS / 1000} s. Check it with 'systemctl status keg-agent' (or its log), then run the command again.`,
        );
      if (answer === "absent" && !told) {
        info(`Waiting for the keg-agent starting on ${stateDir} (pid ${agent}) to answer`);
        told = true;
      }
      await sleep(SOCKET_POLL_MS);
      continue;
    }
    const release = await claimUsersWrite(stateDir);
    try {
      // An agent that started before our claim was made is asked instead; one starting after it waits for us.
      if (servingAgentOf(stateDir)) continue;
      const state = openState(stateDir);
      try {
        return answerUsers(state, request);
      } finally {
        await state.close();
      }
    } finally {
      release();
    }
  }
}
