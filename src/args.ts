/**
 * A strict parser for keg's words (SPEC §4): options before or after
 * positionals, repeatable options keep every value, unknown options are usage
 * errors, `--` ends option parsing. citty keeps the command tree and help;
 * its own parser cannot do this (TRAPS.md).
 * @module
 */
import { usageError } from "./errors.ts";

export type OptionDef = {
  type: "string" | "boolean" | "positional";
  description?: string;
  valueHint?: string;
  alias?: string | string[];
  required?: boolean;
  /** keep every value of a repeated option */
  multiple?: boolean;
};
export type OptionDefs = Record<string, OptionDef>;

export type ParseMode = {
  /** after this many positionals, unknown options are positionals too (script arguments) */
  looseAfterPositionals?: number;
  /** unknown options and all positionals go to `passed` untouched (pip) */
  passUnknown?: boolean;
};

export type Parsed = {
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** words after `--` */
  rest: string[];
  /** with passUnknown: every word not recognised, in order */
  passed: string[];
};

export function parseWords(words: string[], defs: OptionDefs, mode: ParseMode = {}): Parsed {
  const byFlag = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    byFlag.set(`--${name}`, name);
    for (const alias of [def.alias ?? []].flat()) byFlag.set(alias.length === 1 ? `-${alias}` : `--${alias}`, name);
  }
  const parsed: Parsed = { options: {}, positionals: [], rest: [], passed: [] };
  const set = (name: string, value: string | boolean) => {
    const def = defs[name]!;
    if (def.multiple) ((parsed.options[name] as string[] | undefined) ?? (parsed.options[name] = [])).push(value as string);
    else parsed.options[name] = value;
  };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      parsed.rest = words.slice(i + 1);
      break;
    }
    const loose = mode.looseAfterPositionals !== undefined && parsed.positionals.length >= mode.looseAfterPositionals;
    if (!word.startsWith("-") || word === "-") {
      (mode.passUnknown ? parsed.passed : parsed.positionals).push(word);
      continue;
    }
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const name = byFlag.get(flag);
    if (!name) {
      if (mode.passUnknown) parsed.passed.push(word);
      else if (loose) parsed.positionals.push(word);
      else throw usageError(`Unknown option '${flag}'. See --help for the options.`);
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
  for (const [name, def] of Object.entries(defs)) {
    if (def.required && def.type !== "positional" && parsed.options[name] === undefined)
      throw usageError(`Missing option '--${name}'.`);
  }
  return parsed;
}

/** Parses a command that takes options only; a stray word is a usage error pointing at `usage`'s help. */
export function parseOptionsOnly(words: string[], defs: OptionDefs, usage: string): Parsed {
  const parsed = parseWords(words, defs);
  if (parsed.positionals.length) throw usageError(`Unexpected word '${parsed.positionals[0]}'. See '${usage} --help'.`);
  return parsed;
}

/** Removes a flag that may stand anywhere before `--` (the global --force-command). */
export function takeFlag(words: string[], flag: string): { found: boolean; words: string[] } {
  const end = words.indexOf("--");
  const head = end < 0 ? words : words.slice(0, end);
  const tail = end < 0 ? [] : words.slice(end);
  const kept = head.filter((w) => w !== flag);
  return { found: kept.length !== head.length, words: [...kept, ...tail] };
}

export function stringOption(parsed: Parsed, name: string): string | undefined {
  const value = parsed.options[name];
  return typeof value === "string" ? value : undefined;
}

export function listOption(parsed: Parsed, name: string): string[] {
  const value = parsed.options[name];
  return Array.isArray(value) ? value : [];
}

/** A whole number of seconds ≥ 0, or a usage error naming the option. */
export function secondsOption(parsed: Parsed, name: string): number | undefined {
  const value = stringOption(parsed, name);
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw usageError(`Option '--${name}' takes a number of seconds, not '${value}'.`);
  return Number(value);
}
