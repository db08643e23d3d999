/** Paths of the compiled binaries under test and a clean environment for them. */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const BINARIES = ["keg", "keg-agent"] as const;

export const binDir = () => process.env.KEG_TEST_BIN!;

/** The copied binary; an e2e test without a build fails here, saying how to build. */
function binary(name: (typeof BINARIES)[number]): string {
  const path = join(binDir(), name);
  if (!existsSync(path))
    throw new Error(`dist/${name} is missing, so the e2e tests cannot run: build with 'npm run build' (or run 'npm test', which builds first). 'npm run test:unit' needs no build.`);
  return path;
}

export const kegBin = () => binary("keg");
export const agentBin = () => binary("keg-agent");

/** The environment of a spawned keg: no NODE_ENV (bun test sets it), no colour, fixed TZ. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", TZ: "UTC", ...extra };
  delete env.NODE_ENV;
  for (const key of ["KEG_BOX", "KEG_TOKEN", "KEG_HOME", "KEG_AGENT_STATE"]) if (!(key in extra)) delete env[key];
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}
