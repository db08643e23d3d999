/** Temp dirs that remove themselves (`using dir = tempDir()`). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export type TempDir = { path: string; join(...parts: string[]): string; [Symbol.dispose](): void };

export function tempDir(prefix = "keg-test-", files: Record<string, string> = {}): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(path, name)), { recursive: true });
    writeFileSync(join(path, name), content);
  }
  return {
    path,
    join: (...parts) => join(path, ...parts),
    [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }),
  };
}
