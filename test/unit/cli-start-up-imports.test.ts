/**
 * keg's CLI pays no start-up time for the agent's schema library: it imports
 * only types from src/wire/schemas.ts (docs/performance.md "Start-up"). Checked on the
 * bundle's module graph, with no build of dist/.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");

/** Every module a bundle of `entry` holds, lazy imports included. */
async function modulesOf(entry: string): Promise<string[]> {
  const result = await Bun.build({
    entrypoints: [join(root, entry)],
    target: "bun",
    splitting: true,
    external: ["@aws-sdk/client-s3"],
    define: { KEG_VERSION: '"test"' },
    metafile: true,
  });
  expect(result.success).toBe(true);
  return Object.keys(result.metafile!.inputs);
}

test("the CLI bundle holds no valibot and no src/wire/schemas.ts; the agent's does", async () => {
  const cli = await modulesOf("src/cli.ts");
  expect(cli).toContainEqual(expect.stringContaining("src/wire/api.ts"));
  expect(cli.filter((path) => path.includes("valibot") || path.includes("wire/schemas"))).toEqual([]);
  const agent = await modulesOf("src/agent-main.ts");
  expect(agent).toContainEqual(expect.stringContaining("node_modules/valibot"));
});
