/**
 * The environment a script, pip or a hook gets (docs/security.md "A script's
 * environment"): a clean base, the KEG_* variables and what the user passed.
 * Never the agent's own environment: it may hold the service's secrets.
 * @module
 */
import type { RunUser } from "./run-user.ts";

/** The agent's variables a run keeps: where programs are and how text is encoded. */
const KEPT_FROM_AGENT = ["PATH", "LANG", "LC_ALL", "TZ"] as const;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** PATH, HOME, LANG, USER, LOGNAME, TMPDIR: the base every run starts from. */
export function baseEnv(user: RunUser, tmpDir: string, agentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of KEPT_FROM_AGENT) {
    const value = agentEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= DEFAULT_PATH;
  env.LANG ??= "C.UTF-8";
  return { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name, TMPDIR: tmpDir };
}
