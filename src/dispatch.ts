/**
 * Walks a citty command tree and runs the chosen command with its remaining
 * words. citty gives the tree and the help text; parsing is ours (src/args.ts)
 * and so are the exit codes (citty's runMain exits 1 for everything).
 * @module
 */
import type { CommandDef } from "citty";
import { KegError } from "./errors.ts";

export type RunContext = { words: string[]; force: boolean };
export type KegCommand = Omit<CommandDef<any>, "run" | "subCommands"> & {
  run?: (ctx: RunContext) => unknown;
  subCommands?: Record<string, KegCommand | (() => Promise<KegCommand>)>;
};

/** A command: citty's shape (meta, args for help, subCommands) with keg's run context. */
export const defineKegCommand = (def: KegCommand): KegCommand => def;

/** citty colours its help; keep it plain off a terminal or with NO_COLOR. */
async function usage(cmd: KegCommand, root: KegCommand, stream: { isTTY?: boolean }): Promise<string> {
  // Loaded only for help: every start would pay for it otherwise.
  const { renderUsage } = await import("citty");
  const text = await renderUsage(cmd as CommandDef<any>, cmd === root ? undefined : (root as CommandDef<any>));
  return stream.isTTY && !process.env.NO_COLOR ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}

const resolve = async <T>(value: T | (() => T | Promise<T>) | Promise<T> | undefined): Promise<T | undefined> =>
  typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;

/** Resolves the command named by the leading words; returns it and the words left. */
async function findCommand(root: KegCommand, words: string[]) {
  let cmd = root;
  let rest = words;
  for (;;) {
    const subs = await resolve(cmd.subCommands);
    const next = rest[0];
    if (!subs || !next || !(next in subs)) return { cmd, rest };
    cmd = (await resolve(subs[next])) as unknown as KegCommand;
    rest = rest.slice(1);
  }
}

export async function dispatch(root: KegCommand, words: string[], force = false): Promise<number> {
  const { cmd, rest } = await findCommand(root, words);
  const end = rest.indexOf("--");
  const head = end < 0 ? rest : rest.slice(0, end);
  if (head.includes("--help") || head.includes("-h")) {
    console.log(await usage(cmd, root, process.stdout));
    return 0;
  }
  if (!cmd.run) {
    process.stderr.write(`${await usage(cmd, root, process.stderr)}\n`);
    const subs = await resolve(cmd.subCommands);
    const word = rest[0];
    if (word !== undefined && subs) {
      const name = (await resolve(cmd.meta))?.name ?? "";
      throw new KegError("usage", `Unknown command '${word}'. Commands of '${name}': ${Object.keys(subs).join(", ")}.`);
    }
    return 2;
  }
  const result = await cmd.run({ words: rest, force } satisfies RunContext);
  return typeof result === "number" ? result : 0;
}
