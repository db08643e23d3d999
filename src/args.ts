/**
 * keg's strict word parser (docs/cli.md "Words and options"): options before
 * or after positionals, repeatable options keep every value, unknown options
 * are usage errors, `--` ends option parsing. citty keeps the command tree and
 * the help; its own parser drops repeated values and unknown flags.
 * The values come back typed by the declarations: a required string is a
 * `string`, a multiple one a `string[]`, a boolean a `boolean`.
 * @module
 */
import { usageError } from "./errors.ts";

export type ArgDef = {
  type: "string" | "boolean" | "positional";
  description?: string;
  valueHint?: string;
  alias?: string | string[];
  required?: boolean;
  /** keep every value of a repeated option */
  multiple?: boolean;
};
export type ArgDefs = Record<string, ArgDef>;

/** The value `run` gets for one declared argument. */
export type ArgValue<D extends ArgDef> = D["type"] extends "boolean"
  ? boolean
  : D extends { multiple: true }
    ? string[]
    : D extends { required: true }
      ? string
      : string | undefined;
export type ArgValues<A extends ArgDefs> = { -readonly [K in keyof A]: ArgValue<A[K]> };

/**
 * How a command's words are read:
 * - `options`: options and declared positionals only; any other word is a usage error.
 * - `script`: declared positionals come first (RUNNABLE, COMMAND); after the first
 *   positional, words that are not keg options are the script's, and so is everything after `--`.
 * - `pass`: keg's options are taken out; every other word, in order, is passed on untouched (pip).
 */
export type ParseMode = "options" | "script" | "pass";

export type Parsed<A extends ArgDefs> = { args: ArgValues<A>; rest: string[] };

/** `usage` names the command in messages (`keg boxes add`). */
export function parseWords<A extends ArgDefs>(words: string[], defs: A, mode: ParseMode = "options", usage = "keg"): Parsed<A> {
  const byFlag = new Map<string, string>();
  const positionalNames: string[] = [];
  const values: Record<string, string | boolean | string[] | undefined> = {};
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") {
      positionalNames.push(name);
      continue;
    }
    byFlag.set(`--${name}`, name);
    for (const alias of [def.alias ?? []].flat()) byFlag.set(alias.length === 1 ? `-${alias}` : `--${alias}`, name);
    if (def.type === "boolean") values[name] = false;
    else if (def.multiple) values[name] = [];
  }
  const positionals: string[] = [];
  const rest: string[] = [];
  let afterDashes: string[] = [];
  const set = (name: string, value: string | boolean) => {
    if (defs[name]!.multiple) (values[name] as string[]).push(value as string);
    else values[name] = value;
  };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      afterDashes = words.slice(mode === "pass" ? i : i + 1);
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      (mode === "pass" ? rest : positionals).push(word);
      continue;
    }
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const name = byFlag.get(flag);
    if (!name) {
      if (mode === "pass") rest.push(word);
      else if (mode === "script" && positionals.length >= 1) positionals.push(word);
      else throw usageError(`Unknown option '${flag}'. See '${usage} --help' for the options.`);
      continue;
    }
    if (defs[name]!.type === "boolean") {
      if (eq > 0) throw usageError(`Option '${flag}' takes no value.`);
      set(name, true);
      continue;
    }
    if (eq > 0) set(name, word.slice(eq + 1));
    else {
      const value = words[i + 1];
      if (value === undefined) throw usageError(`Option '${flag}' needs a value.`);
      set(name, value);
      i++;
    }
  }
  // Declared positionals take the first words (in script mode, words after `--` too).
  const free = mode === "script" ? [...positionals, ...afterDashes] : positionals;
  for (const name of positionalNames) values[name] = free.shift();
  if (mode === "script") rest.push(...free);
  else if (mode === "pass") rest.push(...afterDashes);
  else {
    const extra = free[0] ?? afterDashes[0];
    if (extra !== undefined) throw usageError(`Unexpected word '${extra}'. See '${usage} --help'.`);
  }
  for (const [name, def] of Object.entries(defs)) {
    if (!def.required || values[name] !== undefined) continue;
    throw def.type === "positional"
      ? usageError(`Missing ${name.toUpperCase()}${def.description ? ` (${def.description})` : ""}. See '${usage} --help'.`)
      : usageError(`Missing option '--${name}'. See '${usage} --help'.`);
  }
  return { args: values as ArgValues<A>, rest };
}

/** Removes a flag that may stand anywhere before `--` (the global --force-command). */
export function takeFlag(words: string[], flag: string): { found: boolean; words: string[] } {
  const end = words.indexOf("--");
  const head = end < 0 ? words : words.slice(0, end);
  const tail = end < 0 ? [] : words.slice(end);
  const kept = head.filter((w) => w !== flag);
  return { found: kept.length !== head.length, words: [...kept, ...tail] };
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** A number of seconds ≥ 0 (`--wait 2.5`), or a usage error naming the option. */
export function parseSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!DECIMAL.test(value)) throw usageError(`Option '--${flag}' takes a number of seconds, not '${value}'.`);
  return Number(value);
}

/** A number > 0 (`--max-upload 512`), or a usage error naming the option. */
export function parsePositive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!DECIMAL.test(value) || Number(value) <= 0) throw usageError(`--${flag} takes a positive number, not '${value}'.`);
  return Number(value);
}

/** A whole number in [min, max] (a port), or a usage error naming what it is. */
export function parseInteger(value: string, what: string, min: number, max: number): number {
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) throw usageError(`${what} takes a whole number from ${min} to ${max}, not '${value}'.`);
  return number;
}
