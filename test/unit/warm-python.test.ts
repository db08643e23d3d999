/** Which runs the warm interpreter may serve, and --preload's words (docs/usage.md "Warm interpreter"). */
import { expect, test } from "bun:test";
import { MAX_PRELOADS, parsePreload, startupDifference } from "../../src/agent/warm-python.ts";

test("a run whose start-up variables match the warm interpreter's may be served warm; any other difference does not matter", () => {
  const warm = { LANG: "C.UTF-8", PYTHONPATH: "/state/lib", PYTHONUNBUFFERED: "1", HOME: "/root" };
  expect(startupDifference(warm, { ...warm, HOME: "/home/x", KEG_BOX: "lab", EXTRA: "1" })).toBeUndefined();
  expect(startupDifference(warm, { ...warm, PYTHONPATH: "/state/lib:/mine" })).toBe("the run sets PYTHONPATH otherwise than the warm interpreter");
  expect(startupDifference(warm, { ...warm, PYTHONHASHSEED: "0" })).toBe("the run sets PYTHONHASHSEED otherwise than the warm interpreter");
  expect(startupDifference(warm, { ...warm, LC_ALL: "de_DE.UTF-8" })).toBe("the run sets LC_ALL otherwise than the warm interpreter");
  const { LANG, ...noLang } = warm;
  expect(startupDifference(warm, noLang)).toBe("the run sets LANG otherwise than the warm interpreter");
});

test("--preload takes dotted module names, at most 64", () => {
  expect(parsePreload(undefined)).toEqual([]);
  expect(parsePreload("numpy,serial.tools.list_ports, yaml")).toEqual(["numpy", "serial.tools.list_ports", "yaml"]);
  for (const bad of ["", "a,,b", "../x", "os;rm", "1abc", "a.", "a b"])
    expect(parsePreload(bad)).toMatch(/^--preload takes module names separated by commas \(like numpy,serial.tools\), not '/);
  expect(parsePreload(Array.from({ length: MAX_PRELOADS + 1 }, (_, i) => `m${i}`).join(","))).toBe(`--preload takes at most ${MAX_PRELOADS} modules, not ${MAX_PRELOADS + 1}.`);
});
