/** Where keg and keg-agent keep their files (docs/cli.md). @module */
import { join, resolve } from "node:path";

/**
 * `$HOME` as os.homedir() reads it first on Unix; node:os is loaded only
 * without it: a static import would load it at every start of keg.
 */
const homedir = () => process.env.HOME || (process.getBuiltinModule("node:os") as typeof import("node:os")).homedir();

/** `$KEG_HOME`, else `$XDG_CONFIG_HOME/keg`, else `%APPDATA%\keg` on Windows (where config belongs there), else `~/.config/keg`. */
export function kegHome(env = process.env, platform = process.platform): string {
  if (env.KEG_HOME) return env.KEG_HOME;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "keg");
  if (platform === "win32" && env.APPDATA) return join(env.APPDATA, "keg");
  return join(homedir(), ".config", "keg");
}

/**
 * `--state-dir`, else `$KEG_AGENT_STATE`, else `/var/lib/keg-agent` for root,
 * else `$XDG_DATA_HOME/keg-agent`; always absolute (resolved once, at start:
 * runs work in other directories).
 */
export function agentStateDir(flag: string | undefined, env = process.env): string {
  if (flag) return resolve(flag);
  if (env.KEG_AGENT_STATE) return resolve(env.KEG_AGENT_STATE);
  if (process.getuid?.() === 0) return "/var/lib/keg-agent";
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "keg-agent");
}
