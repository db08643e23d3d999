/**
 * Compiles dist/keg and dist/keg-agent with Bun's compiler.
 * Usage: bun build/compile.ts [--target bun-linux-x64|bun-linux-arm64]
 *          [--version V] [--outdir DIR] [--only keg|keg-agent]
 * `--version` builds with another version string than package.json's (the
 * update tests and bench/fleet.ts make a second agent with it).
 * @module
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { buildCommit, compileBinary, root, type Target } from "./binary.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { target: { type: "string" }, version: { type: "string" }, outdir: { type: "string" }, only: { type: "string" } },
  strict: true,
});
const target = (values.target ?? `bun-linux-${process.arch}`) as Target;
const outdir = values.outdir ? resolve(values.outdir) : join(root, "dist");
const names = values.only ? [values.only] : ["keg", "keg-agent"];
for (const name of names) if (name !== "keg" && name !== "keg-agent") throw new Error(`--only takes keg or keg-agent, not '${name}'`);

const version = values.version ?? pkg.version;
const commit = buildCommit();
mkdirSync(outdir, { recursive: true });
const started = performance.now();
await Promise.all(names.map((name) => compileBinary({ name: name as "keg", target, outfile: join(outdir, name), version, commit })));
console.error(`built ${names.map((n) => join(outdir, n)).join(" and ")} (${target}, ${version}, ${commit}) in ${Math.round(performance.now() - started)} ms`);
