/**
 * The layers of docs/development.md "Layout": what may import what, that
 * commands leave word parsing to the dispatcher, and that nothing in the
 * repository points at a file outside it.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = join(import.meta.dir, "..", "..");

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!["node_modules", "dist", ".git"].includes(name)) found.push(...filesUnder(path, keep));
    } else if (keep(path)) found.push(path);
  }
  return found;
}

/** Every module a source file imports (static, dynamic and type imports), as paths relative to the root. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
  return specifiers.filter((s) => s.startsWith(".")).map((s) => relative(root, resolve(dirname(file), s)));
}

const sources = (folder: string) => filesUnder(join(root, "src", folder), (p) => p.endsWith(".ts"));

describe("layers", () => {
  const rules: [string, string[]][] = [
    ["lock", ["src/agent/", "src/client/", "src/cmd/"]],
    ["wire", ["src/agent/", "src/client/", "src/cmd/", "src/lock/"]],
    ["cmd", ["src/lock/", "src/agent/"]],
  ];
  for (const [folder, forbidden] of rules) {
    test(`src/${folder}/ imports nothing from ${forbidden.join(", ")}`, () => {
      const offending = sources(folder).flatMap((file) =>
        importsOf(file)
          .filter((target) => forbidden.some((f) => target.startsWith(f)))
          .map((target) => `${relative(root, file)} -> ${target}`),
      );
      expect(offending).toEqual([]);
    });
  }

  test("no module under src/cmd/ calls the word parser: the dispatcher hands run() typed values", () => {
    const parsing = sources("cmd").filter((file) => /\bparseWords\b|\bprocess\.argv\b/.test(readFileSync(file, "utf8")));
    expect(parsing.map((f) => relative(root, f))).toEqual([]);
  });
});

test("only src/platform/ names Bun or Deno: no Bun./Deno. reference and no bun or bun:* import elsewhere in src/", () => {
  const runtimeCall = /\b(?:Bun|Deno)\.|(?:from|import)\s*\(?\s*["']bun(?::[\w-]+)?["']/;
  const offending = filesUnder(join(root, "src"), (p) => p.endsWith(".ts") && !p.startsWith(join(root, "src", "platform") + "/")).flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => runtimeCall.test(line))
      .map(({ i }) => `${relative(root, file)}:${i + 1}`),
  );
  expect(offending).toEqual([]);
});

test("nothing in the repository refers to a file outside it (the contract lives in docs/)", () => {
  const texts = filesUnder(root, (p) => /\.(ts|md|py|json|toml)$|\/run$/.test(p) && !p.endsWith("package-lock.json"));
  // Assembled from pieces, so this file does not name them itself: the folder beside a checkout, and
  // the brief, traps and style files that live there (docs/development.md "Layout").
  const names = [["..", "shared"].join("/"), ["SP", "EC.md"].join(""), ["SP", "EC §"].join(""), ["TR", "APS"].join(""), ["ST", "YLE.md"].join("")];
  const outside = new RegExp(names.map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|"));
  const offending = texts.flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => outside.test(line))
      .map(({ i }) => `${relative(root, file)}:${i + 1}`),
  );
  expect(offending).toEqual([]);
});
