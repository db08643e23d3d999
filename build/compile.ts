/**
 * Compiles dist/keg and dist/keg-agent with Bun's compiler.
 * Usage: bun build/compile.ts [--target bun-linux-x64|bun-linux-arm64]
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BunPlugin } from "bun";
import pkg from "../package.json" with { type: "json" };

const root = join(import.meta.dir, "..");
const targetArg = process.argv.indexOf("--target");
const target = (targetArg > 0 ? process.argv[targetArg + 1] : `bun-linux-${process.arch}`) as "bun-linux-x64";
const arch = target.split("-")[2];

/**
 * lmdb and msgpackr-extract find their native addons at run time by searching
 * the file system (node-gyp-build-optional-packages), which a compiled binary
 * cannot do. Resolve that module to one that requires the exact addon files by
 * literal path, so the compiler embeds them (docs/development.md "Compiling").
 */
function embedNativeAddons(): BunPlugin {
  const addon = (pkgDir: string) => {
    const file = join(root, "node_modules", pkgDir, "node.napi.glibc.node");
    if (!existsSync(file)) throw new Error(`missing native addon ${file}: npm install it for ${target}`);
    return file;
  };
  const lmdb = addon(`@lmdb/lmdb-linux-${arch}`);
  const msgpackr = addon(`@msgpackr-extract/msgpackr-extract-linux-${arch}`);
  return {
    name: "embed-native-addons",
    setup(build) {
      build.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, () => ({
        path: "native-addons",
        namespace: "keg-native",
      }));
      build.onLoad({ filter: /.*/, namespace: "keg-native" }, () => ({
        loader: "js",
        contents: `
          module.exports = function load(dir) {
            if (String(dir).includes("msgpackr")) return require(${JSON.stringify(msgpackr)});
            return require(${JSON.stringify(lmdb)});
          };
          module.exports.path = function () { return ""; };`,
      }));
    },
  };
}

async function compile(entry: string, name: string) {
  const result = await Bun.build({
    entrypoints: [join(root, entry)],
    compile: { target, outfile: join(root, "dist", name), autoloadBunfig: false, autoloadDotenv: false } as any,
    minify: true,
    bytecode: true,
    format: "esm",
    define: { KEG_VERSION: JSON.stringify(pkg.version) },
    external: ["@aws-sdk/client-s3"],
    plugins: [embedNativeAddons()],
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build of ${name} failed`);
  }
}

const started = performance.now();
await Promise.all([compile("src/cli.ts", "keg"), compile("src/agent-main.ts", "keg-agent")]);
console.error(`built dist/keg and dist/keg-agent (${target}) in ${Math.round(performance.now() - started)} ms`);
