/** Runs the compiled keg as a user would, in its own KEG_HOME. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, kegBin } from "./bin.ts";

export type KegResult = { stdout: string; stderr: string; code: number };

export type KegUser = {
  home: string;
  env: Record<string, string>;
  run(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<KegResult>;
  spawn(args: string[], options?: { cwd?: string; env?: Record<string, string>; stdin?: "pipe" | "ignore" }): ReturnType<typeof Bun.spawn>;
};

export function kegUser(env: Record<string, string> = {}): KegUser {
  const home = mkdtempSync(join(tmpdir(), "keg-home-"));
  const baseEnv = cleanEnv({ KEG_HOME: home, ...env });
  const spawn: KegUser["spawn"] = (args, options = {}) =>
    Bun.spawn([kegBin(), ...args], {
      cwd: options.cwd,
      env: { ...baseEnv, ...options.env },
      stdin: options.stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
  return {
    home,
    env: baseEnv,
    spawn,
    async run(args, options) {
      const proc = spawn(args, options);
      const [stdout, stderr, code] = await Promise.all([
        new Response(proc.stdout as ReadableStream).text(),
        new Response(proc.stderr as ReadableStream).text(),
        proc.exited,
      ]);
      return { stdout, stderr, code };
    },
  };
}

/** A keg user with box `name` registered on `agent` for agent user `user`. */
export async function userWithBox(agent: { url: string; addUser(name: string): Promise<string> }, user: string, box = "lab") {
  const token = await agent.addUser(user);
  const keg = kegUser();
  const added = await keg.run(["boxes", "add", "--name", box, "--address", agent.url, "--token", token]);
  if (added.code !== 0) throw new Error(`boxes add failed: ${added.stderr}`);
  return Object.assign(keg, { token, box });
}

/** `ARGS --box BOX`, with `--box` before any `--` (what follows belongs to the script). */
export const withBox = (args: string[], box = "lab") => {
  const dashes = args.indexOf("--");
  return dashes < 0 ? [...args, "--box", box] : [...args.slice(0, dashes), "--box", box, ...args.slice(dashes)];
};
