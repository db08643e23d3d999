/**
 * On the compiled binaries: forwards live as long as the run, belong to the
 * run's owner, and reach a detached run through `--reattach ID -p`
 * (docs/cli.md "Run options" and "--reattach", docs/api.md "Tunnels").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectionOutcome, dial, exchange, forwarded, freePort, SERVE_PY } from "../../helpers/ports.ts";
import { lockBox, type LockBox } from "../../helpers/locks.ts";
import { runBox } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

test("when the run ends the local port closes, and so do its open connections, before keg's cycle is over", async () => {
  using gate = tempDir("keg-gate-");
  // The post-run hook holds the cycle open until told: keg is still running when the port must be closed.
  const hook = `while [ ! -e ${gate.join("hook-go")} ]; do sleep 0.01; done`;
  await using run = await forwarded("tcp-echo", { gate, agentArgs: ["--post-run-hook", hook] });
  const open = await dial(run.dst);
  // keg closes its end: this half-open client sees the end of its stream.
  const openEnded = new Promise<void>((resolve) => open.once("end", () => resolve()));
  open.on("error", () => {});
  open.resume();
  expect((await exchange(run.dst, Buffer.from("before the end\n"))).toString()).toBe("before the end\n");

  writeFileSync(gate.join("stop"), "");
  await until(async () => (await connectionOutcome(run.dst)) === "refused", { what: `local port ${run.dst} to close` });
  await openEnded;
  open.destroy();
  expect(run.keg.exitCode).toBeNull();
  writeFileSync(gate.join("hook-go"), "");
  expect(await run.keg.exited).toBe(0);
});

test("--detach with -p is a usage error (exit 2), and nothing starts", async () => {
  await using box = await runBox({ "serve.py": SERVE_PY });
  const result = await box.run(["python", "run", "serve.py", "-d", "-p", "8080"]);
  expect(result.code).toBe(2);
  expect(result.stderr).toBe("Error: -p cannot be used with --detach: a forward needs keg attached. Forward later with 'keg python --reattach ID -p …'.\n");
  expect((await box.run(["python", "ps", "--json"])).stdout).toBe("[]\n");
});

/** Bob's detached tcp-echo on box port `src`; disposing it ends the run and waits for its end (a detached run outlives its agent). */
async function bobsDetachedEcho(box: LockBox, gate: string, src: number) {
  writeFileSync(box.dir.join("serve.py"), SERVE_PY);
  const started = await box.users.bob!.run(["python", "run", "serve.py", "tcp-echo", String(src), gate, "--detach"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  return {
    id,
    async [Symbol.asyncDispose]() {
      writeFileSync(join(gate, "stop"), "");
      await box.users.bob!.run(["python", "--reattach", id]);
    },
  };
}

test("--reattach ID -p forwards to the owner's detached run; another user's forward is refused; an ended run refuses", async () => {
  await using box = await lockBox(["alice", "bob"]);
  using gate = tempDir("keg-gate-");
  const src = await freePort();
  await using run = await bobsDetachedEcho(box, gate.path, src);
  const { id } = run;

  const [bobPort, alicePort] = [await freePort(), await freePort()];
  const refused = await box.users.alice!.run(["python", "--reattach", id, "-p", `${src}:${alicePort}`]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe(`Error: Run ${id} belongs to bob: only its owner can forward its ports.\n`);
  expect(refused.stdout).toBe("");

  const bob = box.users.bob!.start(["python", "--reattach", id, "-p", `${src}:${bobPort}`]);
  await bob.out.waitFor(/listening\n/, 15_000);
  expect((await exchange(bobPort, Buffer.from("reattached\n"))).toString()).toBe("reattached\n");
  writeFileSync(gate.join("stop"), "");
  expect((await bob.result()).code).toBe(0);
  expect(await connectionOutcome(bobPort)).toBe("refused");

  const ended = await box.users.bob!.run(["python", "--reattach", id, "-p", `${src}:${bobPort}`]);
  expect(ended.code).toBe(1);
  expect(ended.stderr).toBe(`Error: Run ${id} is not running: ports are forwarded only while the run lives.\n`);
});

test("a tunnel needs the run owner's token: another user's WebSocket is refused", async () => {
  await using box = await lockBox(["alice", "bob"]);
  using gate = tempDir("keg-gate-");
  const src = await freePort();
  await using run = await bobsDetachedEcho(box, gate.path, src);
  const { id } = run;
  const url = `${box.agent.url.replace("http", "ws")}/v1/runs/${id}/tunnel?protocol=tcp&port=${src}`;
  const attempt = (token: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
      ws.onopen = () => {
        resolve("open");
        ws.close();
      };
      ws.onerror = () => resolve("refused");
    });
  await until(async () => (await fetch(url.replace("ws", "http"), { headers: { authorization: `Bearer ${box.users.bob!.token}` } })).ok, { what: "the run to listen" });
  expect(await attempt(box.users.alice!.token)).toBe("refused");
  expect(await attempt("not-a-token")).toBe("refused");
  await until(async () => (await attempt(box.users.bob!.token)) === "open", { what: "bob's tunnel to open" });
});
