/**
 * What `npm run release` made in dist/release/ (docs/development.md
 * "Releases"). `npm run test:release` builds it and runs this file; in
 * `npm test` this file checks an existing dist/release/ and is skipped when
 * there is none (a release build is too slow for every test run).
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { packageCache } from "../../build/binary.ts";
import { executableFormat, expectedFormat } from "../../build/exe-format.ts";
import { ARTEFACTS } from "../../build/release.ts";
import { tempDir } from "../helpers/tmp.ts";

const release = join(import.meta.dir, "..", "..", "dist", "release");
const built = existsSync(join(release, "SHA256SUMS"));

describe.skipIf(!built)("dist/release (skipped without 'npm run release')", () => {
  test("every artefact and SHA256SUMS, and nothing else", () => {
    expect(readdirSync(release).sort()).toEqual([...ARTEFACTS.map((a) => a.file), "SHA256SUMS"].sort());
  });

  test("SHA256SUMS matches every artefact, in sha256sum's format", () => {
    const lines = readFileSync(join(release, "SHA256SUMS"), "utf8").trimEnd().split("\n");
    expect(lines.map((line) => line.split("  ")[1]).sort()).toEqual(ARTEFACTS.map((a) => a.file).sort());
    for (const line of lines) {
      const [hash, file] = line.split("  ") as [string, string];
      expect(createHash("sha256").update(readFileSync(join(release, file))).digest("hex")).toBe(hash);
    }
  });

  test("each artefact is its target's executable format: ELF x64/arm64, Mach-O arm64/x64, PE x64", () => {
    for (const artefact of ARTEFACTS) {
      const head = readFileSync(join(release, artefact.file)).subarray(0, 4096);
      expect({ file: artefact.file, ...executableFormat(head) }).toEqual({ file: artefact.file, ...expectedFormat(artefact.target) });
    }
  });

  // The addon is in the release build's package cache (absent only when dist/release came from elsewhere).
  const addon = join(packageCache, "@lmdb/lmdb-linux-arm64", "node.napi.glibc.node");
  test.skipIf(!existsSync(addon))("the arm64 agent embeds the arm64 lmdb addon, the x64 agent does not", () => {
    const sample = readFileSync(addon).subarray(4096, 4096 + 65536);
    expect(readFileSync(join(release, "keg-agent-linux-arm64")).includes(sample)).toBe(true);
    expect(readFileSync(join(release, "keg-agent-linux-x64")).includes(sample)).toBe(false);
  });

  test.skipIf(process.platform !== "linux" || process.arch !== "x64")("the linux-x64 artefacts run --version alone in an empty directory with an empty environment", async () => {
    for (const artefact of ARTEFACTS.filter((a) => a.target === "bun-linux-x64")) {
      using dir = tempDir("keg-release-run-");
      copyFileSync(join(release, artefact.file), dir.join(artefact.name));
      chmodSync(dir.join(artefact.name), 0o755);
      const proc = Bun.spawn(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", `./${artefact.name}`, "--version"], { cwd: dir.path, stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^${artefact.name} ${pkg.version} \\(commit [\\w-]+\\)\\n$`)), stderr: "" });
    }
  });
});
