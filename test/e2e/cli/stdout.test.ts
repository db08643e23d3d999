/**
 * stdout is a contract: every command's output reaches a pipe whole before
 * keg exits, a slow reader included, and a reader that goes away ends keg
 * with 141, never a silent cut (docs/cli.md "Exit codes").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kegBin } from "../../helpers/bin.ts";
import { closedPort, user } from "../../helpers/cli.ts";

setDefaultTimeout(60_000);

/** A KEG_HOME with `count` boxes, all at a closed port: `boxes list --json` is long and quick. */
function manyBoxes(count: number) {
  const keg = user();
  const port = closedPort();
  const boxes = Array.from({ length: count }, (_, i) => ({ name: `box-${i}`, address: `http://127.0.0.1:${port}`, token: `t${i}` }));
  writeFileSync(join(keg.home, "boxes.json"), JSON.stringify({ boxes }));
  return keg;
}

test.concurrent("a long --json reaches a slow pipe whole: every byte, valid JSON, exit 0", async () => {
  using keg = manyBoxes(800);
  const proc = keg.spawn(["boxes", "list", "--json"]);
  const chunks: Uint8Array[] = [];
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    chunks.push(chunk);
    await Bun.sleep(2); // a slow reader
  }
  const text = Buffer.concat(chunks).toString();
  expect(await proc.exited).toBe(0);
  expect(text.length).toBeGreaterThan(131_072);
  const rows = JSON.parse(text) as { name: string; status: string }[];
  expect(rows.map((r) => r.status)).toEqual(Array(800).fill("offline"));
  expect(rows.at(-1)!.name).toBe("box-799");
});

test.concurrent("a reader that leaves after the first bytes (keg … | head) ends keg with 141 and no error line", async () => {
  using keg = manyBoxes(800);
  // A real pipe to `head`, as a shell makes it; keg's code and stderr are kept aside.
  const script = `{ "$KEG" boxes list --json 2>"$DIR/err"; echo $? >"$DIR/code"; } | head -c 100 >/dev/null`;
  const proc = Bun.spawn(["bash", "-c", script], { env: { ...keg.env, KEG: kegBin(), DIR: keg.home } });
  expect(await proc.exited).toBe(0);
  expect({ code: readFileSync(join(keg.home, "code"), "utf8"), stderr: readFileSync(join(keg.home, "err"), "utf8") }).toEqual({ code: "141\n", stderr: "" });
});
