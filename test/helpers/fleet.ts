/**
 * What the fleet tests share: a keg-agent built with another version string
 * (once per test file), and copies of agent binaries in folders of their own
 * (an update renames over its executable, so no two agents share one).
 */
import { chmodSync, copyFileSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBin } from "./bin.ts";

export const OLD_VERSION = "0.0.1-old";

const root = join(import.meta.dir, "..", "..");
const built = new Map<string, Promise<string>>();

/** A keg-agent that says it is `version`, built from this checkout into a temp folder. */
export function agentWithVersion(version = OLD_VERSION): Promise<string> {
  let path = built.get(version);
  if (!path) {
    path = (async () => {
      const outdir = mkdtempSync(join(tmpdir(), "keg-agent-build-"));
      const proc = Bun.spawn([process.execPath, "build/compile.ts", "--version", version, "--outdir", outdir, "--only", "keg-agent"], { cwd: root, stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`building keg-agent ${version} failed: ${stderr}`);
      return join(outdir, "keg-agent");
    })();
    built.set(version, path);
  }
  return path;
}

/** A copy of `binary` (default: the build under test) as `keg-agent`, alone in a new folder. */
export function agentCopy(binary = agentBin()): string {
  const dir = mkdtempSync(join(tmpdir(), "keg-agent-exe-"));
  const path = join(dir, "keg-agent");
  copyFileSync(binary, path);
  chmodSync(path, 0o755);
  return path;
}

/** What sits beside an agent's executable: only the executable after any update, good or refused. */
export const besideExecutable = (path: string) => readdirSync(join(path, "..")).sort();

export async function health(url: string): Promise<{ version: string; started: string; name: string }> {
  return (await (await fetch(`${url}/health`)).json()) as never;
}
