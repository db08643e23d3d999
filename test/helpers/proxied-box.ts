/**
 * An agent, a TCP proxy of the test's own in front of it, and user alice
 * whose box `lab` is the proxy's address: keg's connection can then be cut or
 * taken away while the test still talks to the agent directly.
 */
import { rmSync } from "node:fs";
import { startAgent, type AgentOptions } from "./agent.ts";
import { kegUser, withBox } from "./keg.ts";
import { tcpProxy } from "./proxy.ts";
import { tempDir } from "./tmp.ts";

export type Status = { user_lock: unknown; command_lock: unknown };
export type RunRow = { id: string; runnable: string; status: string; exit_code: number | null };

export async function proxiedBox(files: Record<string, string>, options: AgentOptions = {}) {
  const agent = await startAgent(options);
  const proxy = await tcpProxy(agent.port);
  const token = await agent.addUser("alice");
  const keg = kegUser();
  const dir = tempDir("keg-blip-", files);
  const added = await keg.run(["boxes", "add", "--name", "lab", "--address", proxy.url, "--token", token]);
  if (added.code !== 0) throw new Error(`boxes add failed: ${added.stderr}`);
  return {
    agent,
    proxy,
    dir,
    spawn: (args: string[]) => keg.spawn(withBox(args), { cwd: dir.path }),
    run: (args: string[]) => keg.run(withBox(args), { cwd: dir.path }),
    /** GET on the agent itself, past the proxy */
    direct: async <T>(path: string) => (await (await fetch(`${agent.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T,
    async [Symbol.asyncDispose]() {
      proxy.down();
      await agent[Symbol.asyncDispose]();
      dir[Symbol.dispose]();
      rmSync(keg.home, { recursive: true, force: true });
    },
  };
}
