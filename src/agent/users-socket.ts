/**
 * `keg-agent users` beside a serving agent (docs/cli.md "keg-agent users"):
 * while `serve` runs, it is the only process that writes its state (two
 * processes writing one LMDB environment broke commits: docs/development.md
 * "LMDB"), so `users add`, `list` and `remove` ask it over a Unix socket in
 * the state dir, which is its owner's alone (docs/security.md). With no
 * agent serving they write the state themselves.
 * @module
 */
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KegError, type ErrorCode } from "../errors.ts";
import { connectUnix, serveUnixLines } from "../platform/index.ts";
import { describeError, logEvent } from "./log.ts";
import type { State } from "./state.ts";
import { addUser, listUsers, removeUser, validateUserName } from "./users.ts";

export type UsersRequest = { op: "add"; name: string } | { op: "remove"; name: string } | { op: "list" };
/** What each request is answered with when it is carried out. */
export type UsersAnswers = { add: { token: string }; remove: { removed: number }; list: { users: { user: string; tokens: number }[] } };
export type UsersAnswer = UsersAnswers[keyof UsersAnswers] | { error: { code: ErrorCode; message: string } };

/** A request line is small (a name is at most 64 characters); an answer comes within this or the agent is not there. */
const MAX_REQUEST_BYTES = 4096;
const ANSWER_MS = 10_000;
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

/** The command's side: the serving agent's answer, or undefined when no agent listens (then the caller writes the state). */
export async function askServingAgent(stateDir: string, request: UsersRequest): Promise<UsersAnswer | undefined> {
  let connection;
  try {
    connection = await connectUnix(usersSocketPath(stateDir));
  } catch {
    return undefined;
  }
  const socket = connection;
  return new Promise<UsersAnswer>((resolve, reject) => {
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
        reject(new KegError("failed", "The agent serving this state dir ended the request without an answer. Run the command again."));
      }
    };
    socket.write(`${JSON.stringify(request)}\n`);
  });
}
