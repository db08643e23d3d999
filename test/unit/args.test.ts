/** src/args.ts: keg's strict word parser (docs/cli.md "Words and options"). */
import { describe, expect, test } from "bun:test";
import { parseInteger, parsePositive, parseSeconds, parseWords, takeFlag, type ArgDefs } from "../../src/args.ts";
import { thrownKegError } from "../helpers/errors.ts";

const defs = {
  box: { type: "string" },
  env: { type: "string", multiple: true },
  detach: { type: "boolean", alias: "d" },
  port: { type: "string", alias: "p", multiple: true },
  json: { type: "boolean" },
  wait: { type: "string" },
} as const satisfies ArgDefs;

const none = { box: undefined, env: [], detach: false, port: [], json: false, wait: undefined };

const usageFailure = thrownKegError;

describe("typed values", () => {
  test("a required string is a string, a multiple one a string[], a boolean a boolean, at compile time and at run time", () => {
    const typed = { name: { type: "positional", required: true }, address: { type: "string", required: true }, ...defs } as const satisfies ArgDefs;
    const { args } = parseWords(["n", "--address", "http://x:1", "--env", "A=1"], typed);
    const address: string = args.address;
    const name: string = args.name;
    const env: string[] = args.env;
    const detach: boolean = args.detach;
    const box: string | undefined = args.box;
    // @ts-expect-error an optional string may be undefined
    const notSure: string = args.box;
    expect({ address, name, env, detach, box, notSure } as Record<string, unknown>).toEqual({ address: "http://x:1", name: "n", env: ["A=1"], detach: false, box: undefined, notSure: undefined });
  });

  test("nothing given: booleans false, multiples empty, strings undefined", () => {
    expect(parseWords([], defs)).toEqual({ args: none, rest: [] });
  });
});

describe("parseWords", () => {
  test("options before and after positionals give the same result", () => {
    const withRunnable = { runnable: { type: "positional" }, ...defs } as const satisfies ArgDefs;
    const expected = { args: { ...none, runnable: "script.py", box: "lab", detach: true }, rest: [] };
    expect(parseWords(["--box", "lab", "--detach", "script.py"], withRunnable)).toEqual(expected);
    expect(parseWords(["script.py", "--box", "lab", "--detach"], withRunnable)).toEqual(expected);
    expect(parseWords(["--box", "lab", "script.py", "-d"], withRunnable)).toEqual(expected);
  });

  test("a repeated option with multiple keeps every value, in order", () => {
    const { args } = parseWords(["--env", "A=1", "--env", "B=2", "-p", "80", "--port=81:8081/udp", "--env=C=3"], defs);
    expect(args).toEqual({ ...none, env: ["A=1", "B=2", "C=3"], port: ["80", "81:8081/udp"] });
  });

  test("a repeated single option keeps the last value", () => {
    expect(parseWords(["--box", "a", "--box", "b"], defs).args.box).toBe("b");
  });

  test("--x=v sets a value, and only the first '=' splits", () => {
    expect(parseWords(["--box=lab", "--wait=0", "--env=K=V=W"], defs).args).toEqual({ ...none, box: "lab", wait: "0", env: ["K=V=W"] });
  });

  test("a value that looks like a flag is still taken as the value", () => {
    expect(parseWords(["--box", "--json"], defs).args.box).toBe("--json");
  });

  test("an unknown option is a usage error (exit 2) naming it and the command's help", () => {
    for (const words of [["--bogus"], ["--bogus=1"], ["-x"]]) {
      const error = usageFailure(() => parseWords(words, defs, "options", "keg boxes list"));
      expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: "usage", exitCode: 2 });
      expect(error.message).toBe(`Unknown option '${words[0]!.split("=")[0]}'. See 'keg boxes list --help' for the options.`);
    }
  });

  test("options mode: a stray word, before or after '--', is a usage error naming it", () => {
    for (const words of [["extra"], ["--box", "x", "--", "extra"]]) {
      const error = usageFailure(() => parseWords(words, defs, "options", "keg boxes list"));
      expect(error.message).toBe("Unexpected word 'extra'. See 'keg boxes list --help'.");
    }
  });

  test("a missing value, a value on a boolean and a missing required option or positional are usage errors naming it", () => {
    const cases: [string[], ArgDefs, string][] = [
      [["--box"], defs, "Option '--box' needs a value."],
      [["--json=yes"], defs, "Option '--json' takes no value."],
      [[], { address: { type: "string", required: true } }, "Missing option '--address'. See 'keg x --help'."],
      [[], { name: { type: "positional", required: true, description: "user name" } }, "Missing NAME (user name). See 'keg x --help'."],
    ];
    for (const [words, d, message] of cases) {
      const error = usageFailure(() => parseWords(words, d, "options", "keg x"));
      expect({ code: error.code, exitCode: error.exitCode, message: error.message }).toEqual({ code: "usage", exitCode: 2, message });
    }
  });

  test("'-' alone is a positional", () => {
    expect(parseWords(["-"], { file: { type: "positional" } }).args.file).toBe("-");
  });
});

describe("script mode", () => {
  const runDefs = { runnable: { type: "positional", required: true }, ...defs } as const satisfies ArgDefs;

  test("words after RUNNABLE that are not keg options are the script's; keg options still apply; after '--' all is the script's", () => {
    const words = ["--box", "lab", "run.py", "--verbose", "-n", "3", "--env", "A=1", "--", "--box", "y", "--"];
    expect(parseWords(words, runDefs, "script")).toEqual({
      args: { ...none, runnable: "run.py", box: "lab", env: ["A=1"] },
      rest: ["--verbose", "-n", "3", "--box", "y", "--"],
    });
  });

  test("an unknown option before RUNNABLE is still a usage error", () => {
    const error = usageFailure(() => parseWords(["--verbose", "run.py"], runDefs, "script", "keg python run"));
    expect(error.message).toContain("'--verbose'");
  });

  test("the first positional may come after '--' (keg exec --box x -- ls -l)", () => {
    const execDefs = { command: { type: "positional", required: true }, ...defs } as const satisfies ArgDefs;
    expect(parseWords(["--box", "x", "--", "ls", "-l"], execDefs, "script")).toEqual({ args: { ...none, box: "x", command: "ls" }, rest: ["-l"] });
  });

  test("a missing RUNNABLE is a usage error naming it", () => {
    expect(usageFailure(() => parseWords(["--box", "x"], runDefs, "script", "keg python run")).message).toBe("Missing RUNNABLE. See 'keg python run --help'.");
  });
});

describe("pass mode", () => {
  test("keeps --no-index, '--' and every other unknown word for pip, in order; takes keg's own options out", () => {
    const words = ["install", "--no-index", "--box", "lab", "-f", "wheels", "--find-links=x", "pkg", "--wait", "5", "--", "--box", "z"];
    expect(parseWords(words, { box: defs.box, wait: defs.wait }, "pass")).toEqual({
      args: { box: "lab", wait: "5" },
      rest: ["install", "--no-index", "-f", "wheels", "--find-links=x", "pkg", "--", "--box", "z"],
    });
  });
});

describe("takeFlag", () => {
  test("removes the flag anywhere before '--' and reports it", () => {
    expect(takeFlag(["boxes", "--force-command", "lock", "--box", "x", "--force-command"], "--force-command")).toEqual({
      found: true,
      words: ["boxes", "lock", "--box", "x"],
    });
  });

  test("leaves words after '--' untouched", () => {
    expect(takeFlag(["exec", "--box", "x", "--", "cmd", "--force-command"], "--force-command")).toEqual({
      found: false,
      words: ["exec", "--box", "x", "--", "cmd", "--force-command"],
    });
  });

  test("without the flag nothing changes", () => {
    expect(takeFlag(["a", "b"], "--force-command")).toEqual({ found: false, words: ["a", "b"] });
  });
});

describe("numbers", () => {
  test("parseSeconds takes whole and decimal seconds ≥ 0, refuses anything else naming the option", () => {
    expect([parseSeconds("0", "wait"), parseSeconds("2.5", "wait"), parseSeconds(undefined, "wait")]).toEqual([0, 2.5, undefined]);
    for (const bad of ["-1", "1e3", "", "abc", "1."]) expect(usageFailure(() => parseSeconds(bad, "wait")).message).toBe(`Option '--wait' takes a number of seconds, not '${bad}'.`);
  });

  test("parsePositive refuses zero and non-numbers naming the option", () => {
    expect(parsePositive("256", "max-upload")).toBe(256);
    for (const bad of ["0", "-5", "x"]) expect(usageFailure(() => parsePositive(bad, "max-upload")).message).toBe(`--max-upload takes a positive number, not '${bad}'.`);
  });

  test("parseInteger keeps to its range", () => {
    expect(parseInteger("8080", "A port", 1, 65535)).toBe(8080);
    for (const bad of ["0", "65536", "8.5", "x", ""]) expect(usageFailure(() => parseInteger(bad, "A port", 1, 65535)).message).toBe(`A port takes a whole number from 1 to 65535, not '${bad}'.`);
  });
});
