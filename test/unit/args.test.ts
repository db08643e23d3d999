/** src/args.ts: keg's strict word parser (SPEC §4 "Options may come before or after positional words"). */
import { describe, expect, test } from "bun:test";
import { listOption, parseWords, secondsOption, stringOption, takeFlag, type OptionDefs } from "../../src/args.ts";
import { KegError } from "../../src/errors.ts";

const defs = {
  box: { type: "string" },
  env: { type: "string", multiple: true },
  detach: { type: "boolean", alias: "d" },
  port: { type: "string", alias: "p", multiple: true },
  json: { type: "boolean" },
  wait: { type: "string" },
} as const satisfies OptionDefs;

/** Runs `parse` and returns the KegError it throws (fails the test if it does not). */
function usageFailure(parse: () => unknown): KegError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(KegError);
    return error as KegError;
  }
  throw new Error("expected a usage error");
}

describe("parseWords", () => {
  test("options before and after positionals give the same result", () => {
    const before = parseWords(["--box", "lab", "--detach", "script.py"], defs);
    const after = parseWords(["script.py", "--box", "lab", "--detach"], defs);
    const between = parseWords(["--box", "lab", "script.py", "-d"], defs);
    const expected = { options: { box: "lab", detach: true }, positionals: ["script.py"], rest: [], passed: [] };
    expect(before).toEqual(expected);
    expect(after).toEqual(expected);
    expect(between).toEqual(expected);
  });

  test("a repeated option with multiple keeps every value, in order", () => {
    const parsed = parseWords(["--env", "A=1", "x", "--env", "B=2", "-p", "80", "--port=81:8081/udp", "--env=C=3"], defs);
    expect(parsed.options).toEqual({ env: ["A=1", "B=2", "C=3"], port: ["80", "81:8081/udp"] });
    expect(listOption(parsed, "env")).toEqual(["A=1", "B=2", "C=3"]);
    expect(listOption(parsed, "wait")).toEqual([]);
    expect(parsed.positionals).toEqual(["x"]);
  });

  test("a repeated single option keeps the last value", () => {
    expect(parseWords(["--box", "a", "--box", "b"], defs).options.box).toBe("b");
  });

  test("--x=v sets a value, and only the first '=' splits", () => {
    const parsed = parseWords(["--box=lab", "--wait=0", "--env=K=V=W"], defs);
    expect(parsed.options).toEqual({ box: "lab", wait: "0", env: ["K=V=W"] });
    expect(stringOption(parsed, "box")).toBe("lab");
    expect(stringOption(parsed, "json")).toBeUndefined();
  });

  test("a value that looks like a flag is still taken as the value", () => {
    expect(parseWords(["--box", "--json"], defs).options).toEqual({ box: "--json" });
  });

  test("an unknown option is a usage error (exit 2) naming it", () => {
    for (const words of [["--bogus"], ["script.py", "--bogus"], ["--bogus=1"], ["-x"]]) {
      const error = usageFailure(() => parseWords(words, defs));
      expect(error.code).toBe("usage");
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(words[words.length - 1]!.split("=")[0]!);
    }
  });

  test("a missing value, a value on a boolean and a missing required option are usage errors naming the option", () => {
    const cases: [string[], OptionDefs, string][] = [
      [["--box"], defs, "--box"],
      [["--json=yes"], defs, "--json"],
      [[], { address: { type: "string", required: true } }, "--address"],
    ];
    for (const [words, d, flag] of cases) {
      const error = usageFailure(() => parseWords(words, d));
      expect({ code: error.code, exitCode: error.exitCode, names: error.message.includes(flag) }).toEqual({ code: "usage", exitCode: 2, names: true });
    }
  });

  test("'--' ends option parsing: everything after it goes to rest untouched", () => {
    const parsed = parseWords(["--box", "lab", "--", "ls", "--bogus", "--box", "x", "--"], defs);
    expect(parsed).toEqual({ options: { box: "lab" }, positionals: [], rest: ["ls", "--bogus", "--box", "x", "--"], passed: [] });
  });

  test("'-' alone is a positional", () => {
    expect(parseWords(["-"], defs).positionals).toEqual(["-"]);
  });

  test("looseAfterPositionals: unknown options after RUNNABLE are script arguments, keg options still apply", () => {
    const words = ["--box", "lab", "run.py", "--verbose", "-n", "3", "--env", "A=1", "--", "--box", "y"];
    const parsed = parseWords(words, defs, { looseAfterPositionals: 1 });
    expect(parsed).toEqual({
      options: { box: "lab", env: ["A=1"] },
      positionals: ["run.py", "--verbose", "-n", "3"],
      rest: ["--box", "y"],
      passed: [],
    });
  });

  test("looseAfterPositionals: an unknown option before RUNNABLE is still a usage error", () => {
    const error = usageFailure(() => parseWords(["--verbose", "run.py"], defs, { looseAfterPositionals: 1 }));
    expect(error.code).toBe("usage");
    expect(error.message).toContain("--verbose");
  });

  test("passUnknown keeps --no-index and every other unknown word for pip, in order", () => {
    const words = ["install", "--no-index", "--box", "lab", "-f", "wheels", "--find-links=x", "pkg", "--wait", "5"];
    const parsed = parseWords(words, { box: defs.box, wait: defs.wait }, { passUnknown: true });
    expect(parsed).toEqual({
      options: { box: "lab", wait: "5" },
      positionals: [],
      rest: [],
      passed: ["install", "--no-index", "-f", "wheels", "--find-links=x", "pkg"],
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

describe("secondsOption", () => {
  test("takes whole and decimal seconds, refuses anything else naming the option", () => {
    expect(secondsOption(parseWords(["--wait", "0"], defs), "wait")).toBe(0);
    expect(secondsOption(parseWords(["--wait", "2.5"], defs), "wait")).toBe(2.5);
    expect(secondsOption(parseWords([], defs), "wait")).toBeUndefined();
    const error = usageFailure(() => secondsOption(parseWords(["--wait", "-1"], defs), "wait"));
    expect(error.code).toBe("usage");
    expect(error.message).toContain("--wait");
  });
});
