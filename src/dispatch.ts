/**
 * Commands as data, and the walk that runs one. A command declares its meta,
 * its args (which citty renders as help), how its words are read and a
 * `run({ args, rest, force })` that gets typed values and returns the exit
 * code. Parsing is ours (src/args.ts) and so are the exit codes: citty's
 * runMain exits 1 for everything.
 * @module
 */
import { fstatSync } from "node:fs";
import type { CommandDef as CittyCommand } from "citty";
import { parseWords, type ArgDefs, type ArgValues, type ParseMode } from "./args.ts";
import { usageError } from "./errors.ts";

export type RunContext<A extends ArgDefs> = {
  args: ArgValues<A>;
  /** script mode: the script's words; pass mode: every word passed on */
  rest: string[];
  /** the global --force-command */
  force: boolean;
};

type Lazy<T> = T | (() => Promise<T>);

export type Command<A extends ArgDefs = ArgDefs> = {
  meta: { name: string; description: string; version?: string; hidden?: boolean };
  args?: A;
  /** how the words are read (default `options`) */
  mode?: ParseMode;
  subCommands?: Record<string, Lazy<AnyCommand>>;
  run?: (ctx: RunContext<A>) => Promise<number>;
};
// A command of any args: `run` is only ever called with the values parsed from its own args.
export type AnyCommand = Command<any>;

/** Declares a command; `args` are checked and `run` typed from them. */
export const defineCommand = <const A extends ArgDefs = {}>(def: Command<A>): Command<A> => def;

/**
 * Whether fd 1 or 2 is a terminal. fstat first: a pipe or a file is none, and
 * the first touch of process.stdout or process.stderr costs milliseconds
 * (docs/performance.md "Start-up"); only a character device is asked further.
 */
function isTerminal(fd: 1 | 2): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return Boolean((fd === 1 ? process.stdout : process.stderr).isTTY);
}

/** citty colours its help; keep it plain off a terminal or with NO_COLOR. */
async function usage(cmd: AnyCommand, path: string[], fd: 1 | 2): Promise<string> {
  // Loaded only for help: every start would pay for it otherwise.
  const { renderUsage } = await import("citty");
  const parent = path.length > 1 ? { meta: { name: path.slice(0, -1).join(" ") } } : undefined;
  const text = await renderUsage({ ...cmd, meta: { ...cmd.meta, name: path[path.length - 1] } } as CittyCommand<any>, parent as CittyCommand<any>);
  return !process.env.NO_COLOR && isTerminal(fd) ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}

const load = async (entry: Lazy<AnyCommand>): Promise<AnyCommand> => (typeof entry === "function" ? entry() : entry);

/** Resolves the command named by the leading words; returns it, its path (`keg boxes add`) and the words left. */
async function findCommand(root: AnyCommand, words: string[]) {
  let cmd = root;
  const path = [root.meta.name];
  let rest = words;
  for (;;) {
    const next = rest[0];
    if (!cmd.subCommands || next === undefined || !Object.hasOwn(cmd.subCommands, next)) return { cmd, path, rest };
    cmd = await load(cmd.subCommands[next]!);
    path.push(next);
    rest = rest.slice(1);
  }
}

function wantsHelp(words: string[], mode: ParseMode): boolean {
  // pip has its own --help: a pass-through command never shows keg's (without words it shows its usage).
  if (mode === "pass") return false;
  const end = words.indexOf("--");
  const head = end < 0 ? words : words.slice(0, end);
  return head.includes("--help") || head.includes("-h");
}

export async function dispatch(root: AnyCommand, words: string[], force = false): Promise<number> {
  const { cmd, path, rest } = await findCommand(root, words);
  const name = path.join(" ");
  const mode = cmd.mode ?? "options";
  if (wantsHelp(rest, mode)) {
    // console.log, not process.stdout: see isTerminal. It writes before keg exits, as for --version.
    console.log(await usage(cmd, path, 1));
    return 0;
  }
  const word = rest[0];
  const unknownCommand = cmd.subCommands && word !== undefined && !word.startsWith("-");
  if (unknownCommand) {
    const commands: string[] = [];
    for (const [sub, entry] of Object.entries(cmd.subCommands!)) if (!(await load(entry)).meta.hidden) commands.push(sub);
    throw usageError(`Unknown command '${word}'. Commands of '${name}': ${commands.join(", ")}.`);
  }
  if (!cmd.run) {
    process.stderr.write(`${await usage(cmd, path, 2)}\n`);
    return 2;
  }
  const { args, rest: left } = parseWords(rest, cmd.args ?? {}, mode, name);
  if (mode === "pass" && left.length === 0) {
    process.stderr.write(`${await usage(cmd, path, 2)}\n`);
    return 2;
  }
  return cmd.run({ args, rest: left, force });
}
