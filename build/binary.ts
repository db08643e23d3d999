/**
 * Compiling one keg binary for one target with Bun's compiler: shared by
 * build/compile.ts (the host's binaries) and build/release.ts (every target).
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BunPlugin } from "bun";

export const root = join(import.meta.dir, "..");

/** Where build/release.ts unpacks the locked packages npm does not install on this host (other platforms' addons and Bun runtimes). */
export const packageCache = join(root, "dist", ".cache", "packages");

export type Target = "bun-linux-x64" | "bun-linux-arm64" | "bun-darwin-x64" | "bun-darwin-arm64" | "bun-windows-x64";

/** The directory of an addon package: node_modules for the host's own, else the release cache. */
function addonFile(pkgDir: string): string {
  for (const base of [join(root, "node_modules"), packageCache]) {
    const file = join(base, pkgDir, "node.napi.glibc.node");
    if (existsSync(file)) return file;
  }
  throw new Error(`missing native addon ${pkgDir}/node.napi.glibc.node: npm install it, or run 'npm run release', which fetches the other architectures' addons`);
}

/**
 * lmdb and msgpackr-extract find their native addons at run time by searching
 * the file system (node-gyp-build-optional-packages), which a compiled binary
 * cannot do. Resolve that module to one that requires the exact addon files by
 * literal path, so the compiler embeds them (docs/development.md "Compiling").
 */
function embedNativeAddons(arch: string): BunPlugin {
  const lmdb = addonFile(`@lmdb/lmdb-linux-${arch}`);
  const msgpackr = addonFile(`@msgpackr-extract/msgpackr-extract-linux-${arch}`);
  return {
    name: "embed-native-addons",
    setup(build) {
      build.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, () => ({ path: "native-addons", namespace: "keg-native" }));
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

/** The commit the build is made from (`-dirty` when tracked files differ), `$KEG_COMMIT` outside a checkout. */
export function buildCommit(): string {
  if (process.env.KEG_COMMIT) return process.env.KEG_COMMIT;
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "ignore" });
  const head = git("rev-parse", "--short=12", "HEAD");
  if (head.exitCode !== 0) return "unknown";
  const dirty = git("diff", "--quiet", "HEAD").exitCode !== 0;
  return `${head.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}

export type BinaryOptions = {
  name: "keg" | "keg-agent";
  target: Target;
  outfile: string;
  version: string;
  commit: string;
  /** the Bun runtime of the target (default: Bun's own download for a cross build) */
  executablePath?: string;
};

const entries = { keg: "src/cli.ts", "keg-agent": "src/agent-main.ts" } as const;

export async function compileBinary(options: BinaryOptions): Promise<void> {
  const arch = options.target.split("-")[2]!;
  const result = await Bun.build({
    entrypoints: [join(root, entries[options.name])],
    compile: { target: options.target, outfile: options.outfile, ...(options.executablePath ? { executablePath: options.executablePath } : {}), autoloadBunfig: false, autoloadDotenv: false } as any,
    minify: true,
    bytecode: true,
    format: "esm",
    // Chunks load with the first import() that needs them, and with them their
    // builtins: without it every start loads every module's node: imports.
    splitting: true,
    // KEG_RUNTIME leaves the Deno implementation of src/platform/ out of the binary.
    define: { KEG_VERSION: JSON.stringify(options.version), KEG_COMMIT: JSON.stringify(options.commit), KEG_RUNTIME: JSON.stringify("bun") },
    external: ["@aws-sdk/client-s3"],
    // Only the agent loads lmdb; the CLI has no native addon and builds for every platform.
    plugins: options.name === "keg-agent" ? [embedNativeAddons(arch)] : [],
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build of ${options.name} for ${options.target} failed`);
  }
}
