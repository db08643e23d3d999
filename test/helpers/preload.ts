/**
 * Runs once per `bun test`: puts every temp dir of the run under one folder
 * (TMPDIR, inherited by the agents and keg processes too) removed at the end,
 * copies the compiled binaries out of the checkout there (so a native module
 * missing from them fails here, not on a box), and keeps NODE_ENV=test away
 * from the processes the tests start (see bin.ts).
 */
import { afterAll } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dist = join(import.meta.dir, "..", "..", "dist");
for (const name of ["keg", "keg-agent"]) {
  if (!existsSync(join(dist, name))) throw new Error(`dist/${name} is missing: run 'npm test' (it builds first) or 'npm run build'`);
}
if (!process.env.KEG_TEST_BIN) {
  const root = mkdtempSync(join(tmpdir(), "keg-test-run-"));
  const bin = join(root, "bin");
  mkdirSync(bin);
  for (const name of ["keg", "keg-agent"]) {
    copyFileSync(join(dist, name), join(bin, name));
    chmodSync(join(bin, name), 0o755);
  }
  process.env.KEG_TEST_BIN = bin;
  process.env.TMPDIR = root;
  // bun test fires no "exit" event for the preload; afterAll here runs once after every file.
  afterAll(() => rmSync(root, { recursive: true, force: true }));
}
