/** On the compiled binaries: a bad `-p` is exit 2 before anything; a busy local port is exit 1 before the upload (docs/cli.md "Run options"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { freePort } from "../../helpers/ports.ts";
import { expectNextRunWorks, runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

const HINT = "Use -p SRC[:DST][/tcp|udp], ports 1 to 65535, e.g. -p 8080 or -p 8080:9090/udp.";

test("bad specs are usage errors (exit 2) naming the problem, on python run, exec and --reattach, with no box asked", async () => {
  // An agent that is not there: a spec error must come before any request.
  await using box = await runBox({ "job.py": "print('ran')\n" });
  await box.agent.kill();
  const cases: [string, string][] = [
    ["abc", `Error: -p 'abc' is not a port spec. ${HINT}\n`],
    ["0", `Error: -p '0': port 0 is not from 1 to 65535. ${HINT}\n`],
    ["65536", `Error: -p '65536': port 65536 is not from 1 to 65535. ${HINT}\n`],
    ["80:0", `Error: -p '80:0': port 0 is not from 1 to 65535. ${HINT}\n`],
    ["80/sctp", `Error: -p '80/sctp': unknown protocol 'sctp'. ${HINT}\n`],
    ["80:", `Error: -p '80:' is not a port spec. ${HINT}\n`],
  ];
  for (const [spec, message] of cases) {
    const commands = [["python", "run", "job.py", "-p", spec], ["exec", "-p", spec, "--", "true"], ["python", "--reattach", crypto.randomUUID(), "-p", spec]];
    for (const args of commands) {
      const result = await box.run(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 2, stderr: message });
    }
  }
  const twice = await box.run(["python", "run", "job.py", "-p", "8080", "-p", "9090:8080"]);
  expect(twice.code).toBe(2);
  expect(twice.stderr).toBe("Error: -p '9090:8080': local port 8080/tcp is forwarded twice. Give each forward its own DST.\n");
  const alone = await box.run(["python", "--kill", crypto.randomUUID(), "-p", "8080"]);
  expect(alone.code).toBe(2);
  expect(alone.stderr).toBe("Error: -p goes with --reattach ID (or python run).\n");
});

test("a busy local port: exit 1 naming it, before the upload; no run, no lock held", async () => {
  await using box = await runBox({ "job.py": "print('ran')\n" });
  const port = await freePort();
  const holder = createServer().listen(port, "127.0.0.1");
  await new Promise((resolve) => holder.once("listening", resolve));
  try {
    const result = await box.run(["python", "run", "job.py", "-p", `9999:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`Error: Cannot forward: local port ${port}/tcp is already in use. Free it, or forward to another local port: -p 9999:OTHER.\n`);
    expect(result.stdout).toBe("");
  } finally {
    holder.close();
  }
  const udpHolder = createSocket("udp4");
  await new Promise<void>((resolve) => udpHolder.bind(port, "127.0.0.1", resolve));
  try {
    const result = await box.run(["exec", "-p", `53:${port}/udp`, "--", "true"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`Error: Cannot forward: local port ${port}/udp is already in use. Free it, or forward to another local port: -p 53:OTHER/udp.\n`);
  } finally {
    udpHolder.close();
  }
  expect((await box.run(["python", "ps", "--json"])).stdout).toBe("[]\n");
  const status = await fetch(`${box.agent.url}/v1/status`, { headers: { authorization: `Bearer ${box.user.token}` } });
  expect(((await status.json()) as { command_lock: unknown }).command_lock).toBeNull();
  await expectNextRunWorks(box);
});
