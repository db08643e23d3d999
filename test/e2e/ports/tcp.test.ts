/**
 * On the compiled binaries with real Python: `-p SRC:DST` carries TCP to the
 * box's 127.0.0.1:SRC (docs/cli.md "Run options", docs/api.md "Tunnels").
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connectionOutcome, exchange, forwarded, type Forwarded } from "../../helpers/ports.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

let echo: Forwarded;
beforeAll(async () => {
  echo = await forwarded("tcp-echo");
});
afterAll(() => echo[Symbol.asyncDispose]());

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

test("a request through the forward gets the box server's answer", async () => {
  expect((await exchange(echo.dst, Buffer.from("hello box\n"))).toString()).toBe("hello box\n");
});

test("16 MiB each way through one connection arrive intact", async () => {
  const data = randomBytes(16 * 1024 * 1024);
  const back = await exchange(echo.dst, data);
  expect(back.length).toBe(data.length);
  expect(sha(back)).toBe(sha(data));
});

test("8 connections in parallel each get their own answer", async () => {
  const asks = Array.from({ length: 8 }, (_, i) => Buffer.from(`connection ${i} `.repeat(1000 * (i + 1))));
  const answers = await Promise.all(asks.map((ask) => exchange(echo.dst, ask)));
  answers.forEach((answer, i) => expect(answer.equals(asks[i]!)).toBe(true));
});

test("a box port nobody listens on closes that local connection; the listener stays for a retry", async () => {
  await using late = await forwarded("late-tcp-echo", { listening: false });
  // keg listens at once; the script listens only once told to.
  const first = await until(
    async () => {
      const outcome = await connectionOutcome(late.dst);
      return outcome === "refused" ? undefined : outcome;
    },
    { what: `keg to listen on ${late.dst}` },
  );
  expect(first).toBe("closed");
  await late.err.waitFor(/^Warning: -p \d+: .*\n/m);
  expect(await connectionOutcome(late.dst)).toBe("closed");
  expect(late.err.text).toBe(
    `Warning: -p ${late.src}: nothing accepted the connection to the box's 127.0.0.1:${late.src}/tcp (ECONNREFUSED): is the script listening yet? The local connection was closed; keg keeps listening.\n`,
  );
  writeFileSync(late.gate.join("listen"), "");
  await late.out.waitFor(/listening\n/);
  expect(((await connectionOutcome(late.dst)) as Buffer).toString()).toBe("ping\n");
  expect(await late.stop()).toBe(0);
});
