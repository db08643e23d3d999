/**
 * `npm run release`: dist/release/ with keg-agent for linux-x64 and
 * linux-arm64, keg for linux, macOS and Windows, and SHA256SUMS. Every
 * package a build needs that npm did not install on this host (the arm64
 * addons, the other platforms' Bun runtimes) is fetched at exactly its
 * package-lock.json version and checked against the lock's integrity. Each
 * artefact is checked for its target's executable format; the linux-x64 ones
 * run `--version` from an empty directory (docs/development.md "Releases").
 * @module
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { buildCommit, compileBinary, packageCache, root, type Target } from "./binary.ts";
import { executableFormat, expectedFormat } from "./exe-format.ts";

const out = join(root, "dist", "release");

type Artefact = { name: "keg" | "keg-agent"; target: Target; file: string };

export const ARTEFACTS: Artefact[] = [
  { name: "keg-agent", target: "bun-linux-x64", file: "keg-agent-linux-x64" },
  { name: "keg-agent", target: "bun-linux-arm64", file: "keg-agent-linux-arm64" },
  { name: "keg", target: "bun-linux-x64", file: "keg-linux-x64" },
  { name: "keg", target: "bun-linux-arm64", file: "keg-linux-arm64" },
  { name: "keg", target: "bun-darwin-arm64", file: "keg-darwin-arm64" },
  { name: "keg", target: "bun-darwin-x64", file: "keg-darwin-x64" },
  { name: "keg", target: "bun-windows-x64", file: "keg-windows-x64.exe" },
];

/** Bun's runtime package for a compile target (its binary is `bin/bun`, or `bin/bun.exe` on Windows). */
const runtimePackage = (target: Target) => `@oven/bun-${target.slice(4).replace("arm64", "aarch64")}`;

const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string; integrity?: string }> };

function lockedEntry(name: string): { version: string; integrity: string } {
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry?.version || !entry.integrity) throw new Error(`${name} is not in package-lock.json with a version and integrity: run npm install`);
  return entry as { version: string; integrity: string };
}

/** The folder of package `name` at its locked version: fetched with `npm pack`, checked against the lock, unpacked once. */
function lockedPackage(name: string): string {
  const { version, integrity } = lockedEntry(name);
  const dir = join(packageCache, name);
  const stamp = join(dir, ".keg-integrity");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === integrity) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const temp = mkdtempSync(join(tmpdir(), "keg-pack-"));
  try {
    const packed = Bun.spawnSync(["npm", "pack", `${name}@${version}`, "--json", "--pack-destination", temp], { stdout: "pipe", stderr: "pipe" });
    if (packed.exitCode !== 0) throw new Error(`npm pack ${name}@${version} failed: ${packed.stderr.toString()}`);
    const [info] = JSON.parse(packed.stdout.toString()) as { filename: string }[];
    const tarball = join(temp, info!.filename);
    const got = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
    if (got !== integrity) throw new Error(`${name}@${version} from the registry has integrity ${got}, not the lock's ${integrity}`);
    const untar = Bun.spawnSync(["tar", "xzf", tarball, "-C", dir, "--strip-components=1"], { stderr: "pipe" });
    if (untar.exitCode !== 0) throw new Error(`unpacking ${tarball} failed: ${untar.stderr.toString()}`);
    writeFileSync(stamp, integrity);
    return dir;
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/** The Bun runtime to compile a target with: this Bun for the host, else the locked package of the target. */
function runtimeFor(target: Target): string | undefined {
  if (target === `bun-${process.platform}-${process.arch}`) return undefined;
  return join(lockedPackage(runtimePackage(target)), "bin", target.includes("windows") ? "bun.exe" : "bun");
}

/** The other architecture's addons, for keg-agent builds that are not the host's. */
function fetchAddons(target: Target): void {
  const arch = target.split("-")[2];
  if (arch === process.arch) return;
  for (const name of [`@lmdb/lmdb-linux-${arch}`, `@msgpackr-extract/msgpackr-extract-linux-${arch}`])
    if (!existsSync(join(root, "node_modules", name))) lockedPackage(name);
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Runs a linux-x64 artefact alone in an empty directory with an empty environment: it must print its version line. */
function checkRunsAlone(artefact: Artefact, version: string, commit: string): void {
  const dir = mkdtempSync(join(tmpdir(), "keg-release-check-"));
  try {
    copyFileSync(join(out, artefact.file), join(dir, artefact.name));
    chmodSync(join(dir, artefact.name), 0o755);
    const run = Bun.spawnSync(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", `./${artefact.name}`, "--version"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const expected = `${artefact.name} ${version} (commit ${commit})\n`;
    if (run.exitCode !== 0 || run.stdout.toString() !== expected)
      throw new Error(`${artefact.file} --version gave exit ${run.exitCode} and '${run.stdout}${run.stderr}', not '${expected.trim()}'`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function release(): Promise<void> {
  const started = performance.now();
  const version = pkg.version;
  const commit = buildCommit();
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const artefact of ARTEFACTS) {
    if (artefact.name === "keg-agent") fetchAddons(artefact.target);
    await compileBinary({ name: artefact.name, target: artefact.target, outfile: join(out, artefact.file), version, commit, executablePath: runtimeFor(artefact.target) });
    const found = executableFormat(readFileSync(join(out, artefact.file)).subarray(0, 4096));
    const wanted = expectedFormat(artefact.target);
    if (found?.format !== wanted.format || found.arch !== wanted.arch)
      throw new Error(`${artefact.file} is ${found ? `${found.format} ${found.arch}` : "no known executable"}, not ${wanted.format} ${wanted.arch}`);
    if (artefact.target === "bun-linux-x64" && process.platform === "linux" && process.arch === "x64") checkRunsAlone(artefact, version, commit);
    console.error(`  ${artefact.file}: ${wanted.format} ${wanted.arch}`);
  }
  // sha256sum's own format: `sha256sum -c SHA256SUMS` checks a download.
  writeFileSync(join(out, "SHA256SUMS"), ARTEFACTS.map((a) => `${sha256(join(out, a.file))}  ${a.file}\n`).join(""));
  console.error(`released keg ${version} (commit ${commit}) to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (import.meta.main) await release();
