/**
 * On the compiled binaries with real Python: `-p SRC:DST` carries TCP to the
 * box's 127.0.0.1:SRC (docs/cli.md "Run options", docs/api.md "Tunnels").
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connectionOutcome, exchange, freePort, SERVE_PY } from "../../helpers/ports.ts";
import { runBox, StreamText, type RunBox } from "../../helpers/run.ts";
import { tempDir, type TempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

let box: RunBox;
let gate: TempDir;
let keg: ReturnType<RunBox["spawn"]>;
let out: StreamText;
let local: number;

beforeAll(async () => {
  box = await runBox({ "serve.py": SERVE_PY });
  gate = tempDir("keg-gate-");
  const [src, dst] = [await freePort(), await freePort()];
  local = dst;
  keg = box.spawn(["python", "run", "serve.py", "tcp-echo", String(src), gate.path, "-p", `${src}:${dst}`]);
  out = new StreamText(keg.stdout);
  await out.waitFor(/listening\n/, 15_000);
});

afterAll(async () => {
  writeFileSync(gate.join("stop"), "");
  await keg.exited;
  await box[Symbol.asyncDispose]();
  gate[Symbol.dispose]();
});

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

test("a request through the forward gets the box server's answer", async () => {
  expect((await exchange(local, Buffer.from("hello box\n"))).toString()).toBe("hello box\n");
});

test("16 MiB each way through one connection arrive intact", async () => {
  const data = randomBytes(16 * 1024 * 1024);
  const back = await exchange(local, data);
  expect(back.length).toBe(data.length);
  expect(sha(back)).toBe(sha(data));
});

test("8 connections in parallel each get their own answer", async () => {
  const asks = Array.from({ length: 8 }, (_, i) => Buffer.from(`connection ${i} `.repeat(1000 * (i + 1))));
  const answers = await Promise.all(asks.map((ask) => exchange(local, ask)));
  answers.forEach((answer, i) => expect(answer.equals(asks[i]!)).toBe(true));
});

test("a box port nobody listens on closes that local connection; the listener stays for a retry", async () => {
  await using late = await runBox({ "serve.py": SERVE_PY });
  using lateGate = tempDir("keg-gate-");
  const [src, dst] = [await freePort(), await freePort()];
  const run = late.spawn(["python", "run", "serve.py", "late-tcp-echo", String(src), lateGate.path, "-p", `${src}:${dst}`]);
  const lateOut = new StreamText(run.stdout);
  const lateErr = new StreamText(run.stderr);
  // keg listens at once; the script listens only once told to.
  expect(await until(async () => {
    const outcome = await connectionOutcome(dst);
    return outcome === "refused" ? undefined : outcome;
  }, { what: `keg to listen on ${dst}` })).toBe("closed");
  await lateErr.waitFor(/^Warning: -p \d+: .*$/m);
  expect(lateErr.text).toBe(
    `Warning: -p ${src}: nothing accepted the connection to the box's 127.0.0.1:${src}/tcp (ECONNREFUSED): is the script listening yet? The local connection was closed; keg keeps listening.\n`,
  );
  expect(await connectionOutcome(dst)).toBe("closed");
  writeFileSync(lateGate.join("listen"), "");
  await lateOut.waitFor(/listening\n/);
  expect(((await connectionOutcome(dst)) as Buffer).toString()).toBe("ping\n");
  writeFileSync(lateGate.join("stop"), "");
  expect(await run.exited).toBe(0);
});
