/** Paths of the compiled binaries under test and a clean environment for them. */
import { join } from "node:path";

export const binDir = () => process.env.KEG_TEST_BIN!;
export const kegBin = () => join(binDir(), "keg");
export const agentBin = () => join(binDir(), "keg-agent");

/** The environment of a spawned keg: no NODE_ENV (bun test sets it), no colour, fixed TZ. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", TZ: "UTC", ...extra };
  delete env.NODE_ENV;
  for (const key of ["KEG_BOX", "KEG_TOKEN", "KEG_HOME", "KEG_AGENT_STATE"]) if (!(key in extra)) delete env[key];
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}
