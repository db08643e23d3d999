/**
 * Who scripts, pip and hooks run as (docs/security.md "Who runs scripts").
 * With `serve --run-as USER` (the agent runs as root) every run's process is
 * started through `setpriv` as USER with USER's groups (dialout, plugdev…),
 * so it cannot reach the agent's state; without it, runs have the agent's rights.
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { KegError } from "../errors.ts";

export type RunUser = {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** true when runs change to this user (the agent itself is someone else) */
  switches: boolean;
};

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"];

/** `getent passwd KEY` (a name or a uid) as [name, uid, gid, home], or undefined. */
function passwdEntry(key: string): [string, number, number, string] | undefined {
  try {
    const [name, , uid, gid, , home] = execFileSync("getent", ["passwd", key], { encoding: "utf8" }).trim().split(":");
    return name ? [name, Number(uid), Number(gid), home || "/"] : undefined;
  } catch {
    return undefined;
  }
}

/** The agent's own user: runs keep its rights. */
export function agentUser(): RunUser {
  const me = userInfo();
  // Without USER in the environment (a service, `env -i`) the runtime may not know the name.
  const name = me.username && me.username !== "unknown" ? me.username : (passwdEntry(String(me.uid))?.[0] ?? String(me.uid));
  return { name, uid: me.uid, gid: me.gid, home: process.env.HOME || homedir(), switches: false };
}

/** The user runs have under `config` (resolved at start; the agent's own when unset). */
export const runUserOf = (config: { runUser?: RunUser }): RunUser => config.runUser ?? agentUser();

/** `--run-as NAME`, looked up in the user database; needs an agent running as root. */
export function resolveRunUser(name: string | undefined): RunUser {
  if (name === undefined) return agentUser();
  if (process.getuid?.() !== 0) throw new KegError("usage", `--run-as ${name} needs keg-agent to run as root. Start it as root (the service does), or leave --run-as out.`);
  const entry = passwdEntry(name);
  if (!entry) throw new KegError("usage", `--run-as: no user '${name}' on this box. Create it (useradd --system ${name}) or name another.`);
  const [, uid, gid, home] = entry;
  if (uid === 0) throw new KegError("usage", `--run-as ${name}: that is root. Name an unprivileged user.`);
  if (!setprivPath()) throw new KegError("failed", "--run-as needs setpriv (util-linux) on the box. Install util-linux.");
  return { name, uid, gid, home, switches: true };
}

function setprivPath(): string | undefined {
  return SETPRIV.find((path) => existsSync(path));
}

/** `argv` started as the run user: through setpriv, which execs it (same pid, signals and exit code). */
export function asRunUser(user: RunUser, argv: string[]): string[] {
  if (!user.switches) return argv;
  return [setprivPath()!, `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--", ...argv];
}

/** What `serve` logs at start about whose rights scripts have (docs/security.md "Who runs scripts"). */
export function runUserFields(user: RunUser): Record<string, string | number | boolean> {
  if (user.switches) return { user: user.name, uid: user.uid, own_rights: false };
  const fix = user.uid === 0 ? "give the agent --run-as USER" : "start the agent as root with --run-as USER";
  return { user: user.name, uid: user.uid, own_rights: true, note: `scripts have this agent's own rights: ${fix} to keep them away from its state` };
}
