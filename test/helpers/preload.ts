/**
 * Runs once per `bun test`: copies the compiled binaries out of the checkout
 * (so a native module missing from them fails here, not on a box) and keeps
 * NODE_ENV=test away from the processes the tests start.
 */
import { copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dist = join(import.meta.dir, "..", "..", "dist");
for (const name of ["keg", "keg-agent"]) {
  if (!existsSync(join(dist, name))) throw new Error(`dist/${name} is missing: run 'npm test' (it builds first) or 'npm run build'`);
}
if (!process.env.KEG_TEST_BIN) {
  const bin = mkdtempSync(join(tmpdir(), "keg-bin-"));
  for (const name of ["keg", "keg-agent"]) copyFileSync(join(dist, name), join(bin, name));
  const { chmodSync } = await import("node:fs");
  for (const name of ["keg", "keg-agent"]) chmodSync(join(bin, name), 0o755);
  process.env.KEG_TEST_BIN = bin;
  // bun test fires no "exit" event for the preload; afterAll here runs once after every file.
  const { afterAll } = await import("bun:test");
  const { rmSync } = await import("node:fs");
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
}
