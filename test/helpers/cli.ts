/** What the CLI tests share: a keg user with a throwaway KEG_HOME, a timed run, adding a box, a closed port, the one error line. */
import { expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Agent } from "./agent.ts";
import { kegUser, type KegResult, type KegUser } from "./keg.ts";

/** A keg user whose KEG_HOME is removed at the end of the test (`using keg = user()`). */
export function user(env: Record<string, string> = {}): KegUser & Disposable {
  const keg = kegUser(env);
  return Object.assign(keg, { [Symbol.dispose]: () => rmSync(keg.home, { recursive: true, force: true }) });
}

/** Runs keg and measures its wall time. */
export async function timed(keg: KegUser, args: string[], options?: { env?: Record<string, string> }): Promise<KegResult & { ms: number }> {
  const started = performance.now();
  const result = await keg.run(args, options);
  return { ...result, ms: performance.now() - started };
}

export async function addBox(keg: KegUser, agent: Agent, name: string, token: string) {
  const added = await keg.run(["boxes", "add", "--name", name, "--address", agent.url, "--token", token]);
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`Added box '${name}'`) });
}

/** A TCP port that was just free: bound, then closed, so nothing answers there. */
export function closedPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** The one `Error: …` line of docs/cli.md. */
export function errorLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("Error: ");
  return lines[0]!;
}

export const boxesFile = (keg: KegUser) => join(keg.home, "boxes.json");
