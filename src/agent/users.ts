/**
 * Users and their tokens. A token is 256 random bits shown once; only its
 * SHA-256 is stored. A user may hold several tokens.
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { KegError, usageError } from "../errors.ts";
import type { State } from "./state.ts";

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export function validateUserName(name: string | undefined): string {
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name))
    throw usageError(`User name '${name ?? ""}' is not valid. Use letters, digits, '.', '_', '@' or '-' (at most 64).`);
  return name;
}

export function addUser(state: State, name: string): string {
  const token = `keg_${randomBytes(32).toString("base64url")}`;
  const key = hashToken(token);
  state.root.transactionSync(() => {
    state.tokens.putSync(key, { user: name, created: new Date().toISOString() });
  });
  state.refresh();
  if (state.tokens.get(key)?.user !== name) throw new KegError("failed", "The new token could not be stored. Run 'keg-agent users add' again.");
  return token;
}

export function listUsers(state: State): { user: string; tokens: number }[] {
  const counts = new Map<string, number>();
  for (const { value } of state.tokens.getRange()) counts.set(value.user, (counts.get(value.user) ?? 0) + 1);
  return [...counts].map(([user, tokens]) => ({ user, tokens })).sort((a, b) => a.user.localeCompare(b.user));
}

/** Revokes every token of `name`; returns how many. */
export function removeUser(state: State, name: string): number {
  return state.root.transactionSync(() => {
    let removed = 0;
    for (const { key, value } of state.tokens.getRange()) {
      if (value.user !== name) continue;
      state.tokens.removeSync(key);
      removed++;
    }
    if (!removed) throw new KegError("not_found", `No user '${name}'. See 'keg-agent users list'.`);
    return removed;
  });
}

/** The user bound to a token, or undefined. */
export function userForToken(state: State, token: string): string | undefined {
  // Tokens are added and revoked by other processes (`keg-agent users …`):
  // read the latest commit, not lmdb-js's cached snapshot.
  state.refresh();
  // Looked up by SHA-256: the key compared is a hash the caller cannot steer
  // byte by byte, so the comparison's timing tells nothing about stored tokens.
  return state.tokens.get(hashToken(token))?.user;
}
