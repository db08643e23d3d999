/** Usage errors (exit 2 naming the flag), box selection, version, help and the agent's serve contract (docs/cli.md). */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { agentCommand, firstLine, notLogLines, ownRightsLine, startAgent } from "../../helpers/agent.ts";
import { agentBin } from "../../helpers/bin.ts";
import { addBox, errorLine, user } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/tmp.ts";

const VERSION = pkg.version;

setDefaultTimeout(60_000);

// usage errors (exit 2 naming the flag) and box selection
describe("usage errors", () => {
  const cases: { args: string[]; names: string }[] = [
    { args: ["boxes", "add", "--bogus"], names: "--bogus" },
    { args: ["boxes", "add", "--address", "http://127.0.0.1:1", "--token", "t", "--bogus"], names: "--bogus" },
    { args: ["boxes", "add", "--token", "t"], names: "--address" },
    { args: ["boxes", "add", "--address", "notaurl", "--token", "t"], names: "--address" },
    { args: ["boxes", "add", "--address", "ftp://lab:21", "--token", "t"], names: "--address" },
    { args: ["boxes", "add", "--address", "http://lab:7350"], names: "--token" },
    { args: ["boxes", "add", "--name", "a b", "--address", "http://lab:7350", "--token", "t"], names: "--name" },
    { args: ["boxes", "list", "--bogus"], names: "--bogus" },
    { args: ["boxes", "list", "extra"], names: "extra" },
    { args: ["boxes", "remove"], names: "--name" },
    { args: ["bogus"], names: "bogus" },
  ];
  for (const { args, names } of cases) {
    test.concurrent(`keg ${args.join(" ")} → exit 2 naming ${names}; nothing written`, async () => {
      using keg = user();
      const result = await keg.run(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("Error: ");
      expect(result.stderr.split("\n").find((l) => l.startsWith("Error: "))).toContain(names);
      expect(existsSync(keg.home) ? readdirSync(keg.home) : []).toEqual([]);
    });
  }

  test.concurrent("--force-command may stand anywhere and is not an unknown option", async () => {
    using keg = user();
    const result = await keg.run(["boxes", "--force-command", "list", "--json"]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: "[]\n" });
  });
});

// Box selection (docs/cli.md) through `keg python ps`, a command that only reads;
// resolveBox itself is also covered in test/unit/boxes-file.test.ts.
describe("box selection through a command", () => {
  test.concurrent("an unknown --box is exit 1 listing the known names", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    using keg = user();
    await addBox(keg, agent, "alpha", token);
    await addBox(keg, agent, "beta", token);
    const result = await keg.run(["python", "ps", "--box", "nope"]);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toBe("Error: Unknown box 'nope'. Known boxes: alpha, beta.");
  });

  test.concurrent("KEG_BOX selects a box, and --box wins over it", async () => {
    // Two boxes, one of them gone: which one was asked shows in the outcome.
    await using up = await startAgent({ name: "up" });
    await using gone = await startAgent({ name: "gone" });
    using keg = user();
    await addBox(keg, up, "up", await up.addUser("alice"));
    await addBox(keg, gone, "gone", await gone.addUser("alice"));
    await gone.kill();

    const viaEnv = await keg.run(["python", "ps", "--json"], { env: { KEG_BOX: "up" } });
    expect({ code: viaEnv.code, stdout: viaEnv.stdout, stderr: viaEnv.stderr }).toEqual({ code: 0, stdout: "[]\n", stderr: "" });
    const goneViaEnv = await keg.run(["python", "ps", "--json"], { env: { KEG_BOX: "gone" } });
    expect(goneViaEnv.code).toBe(1);
    expect(errorLine(goneViaEnv.stderr)).toContain(gone.url);
    const flagWins = await keg.run(["python", "ps", "--json", "--box", "up"], { env: { KEG_BOX: "gone" } });
    expect({ code: flagWins.code, stderr: flagWins.stderr }).toEqual({ code: 0, stderr: "" });
    const unknown = await keg.run(["python", "ps"], { env: { KEG_BOX: "nope" } });
    expect(unknown.code).toBe(1);
    expect(errorLine(unknown.stderr)).toBe("Error: Unknown box 'nope'. Known boxes: up, gone.");
  });

  test.concurrent("--box http://127.0.0.1:PORT with KEG_TOKEN works with no boxes.json", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    using keg = user();
    const result = await keg.run(["python", "ps", "--json", "--box", agent.url], { env: { KEG_TOKEN: token } });
    expect(result).toEqual({ code: 0, stdout: "[]\n", stderr: "" });
    const viaEnv = await keg.run(["python", "ps", "--json"], { env: { KEG_BOX: agent.url, KEG_TOKEN: token } });
    expect(viaEnv).toEqual({ code: 0, stdout: "[]\n", stderr: "" });
    expect(existsSync(keg.home) ? readdirSync(keg.home) : []).toEqual([]);
    const wrong = await keg.run(["python", "ps", "--box", agent.url], { env: { KEG_TOKEN: "keg_wrong" } });
    expect(wrong.code).toBe(1);
    expect(errorLine(wrong.stderr)).toContain("keg-agent users add");
  });
});

// Version, help, and the agent's serve contract (docs/cli.md "keg-agent serve", docs/api.md)
describe("version, help and serve", () => {
  test.concurrent("keg --version and keg-agent --version print the version and exit 0", async () => {
    using keg = user();
    const COMMIT = String.raw`\(commit [0-9a-f]{12}(-dirty)?\)`;
    expect(await keg.run(["--version"])).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^keg ${VERSION} ${COMMIT}\n$`)), stderr: "" });
    expect(await agentCommand(["--version"])).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^keg-agent ${VERSION} ${COMMIT}\n$`)), stderr: "" });
  });

  const helps: string[][] = [["--help"], ["boxes", "--help"], ["boxes", "add", "--help"], ["boxes", "list", "-h"], ["boxes", "remove", "--help"]];
  for (const args of helps) {
    test.concurrent(`keg ${args.join(" ")} prints usage on stdout and exits 0`, async () => {
      using keg = user();
      const result = await keg.run(args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect(result.stdout).toContain("USAGE keg");
      expect(result.stdout).not.toContain("\x1b[");
    });
  }

  test.concurrent("keg boxes add --help lists its options", async () => {
    using keg = user();
    const result = await keg.run(["boxes", "add", "--help"]);
    for (const flag of ["--name", "--address", "--token"]) expect(result.stdout).toContain(flag);
  });

  for (const args of [["--help"], ["serve", "--help"], ["users", "add", "--help"], ["users", "--help"]]) {
    test.concurrent(`keg-agent ${args.join(" ")} exits 0 with usage`, async () => {
      const result = await agentCommand(args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect(result.stdout).toContain("USAGE keg-agent");
    });
  }

  for (const args of [
    ["serve", "--listen", "bad"],
    ["serve", "--listen", "127.0.0.1:99999"],
    ["serve", "--bogus"],
    ["serve", "--keepalive", "soon"],
  ]) {
    test.concurrent(`keg-agent ${args.join(" ")} → exit 2 naming the flag`, async () => {
      using state = tempDir("keg-state-");
      const result = await agentCommand([...args, "--state-dir", state.path]);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
      expect(errorLine(result.stderr)).toContain(args[1]!);
    });
  }

  test.concurrent("serve's first stdout line is exactly `keg-agent VERSION listening on http://127.0.0.1:PORT`; SIGTERM exits 0", async () => {
    using state = tempDir("keg-state-");
    await using proc = Bun.spawn([agentBin(), "serve", "--listen", "127.0.0.1:0", "--state-dir", state.path, "--name", "t1"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const stderr = new Response(proc.stderr).text();
    const reader = proc.stdout.getReader();
    const line = await firstLine(reader, stderr);
    const port = Number(/:(\d+)$/.exec(line)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(line).toBe(`keg-agent ${VERSION} listening on http://127.0.0.1:${port}`);
    // The printed port is the real one.
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toMatchObject({ version: VERSION, name: "t1" });

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    reader.releaseLock();
    // stderr is the operator's log and nothing else; it says whose rights scripts have.
    const log = await stderr;
    expect(notLogLines(log)).toEqual([]);
    expect(log).toMatch(ownRightsLine());
    // LMDB was closed cleanly: the state dir opens again.
    expect((await agentCommand(["users", "list", "--state-dir", state.path])).code).toBe(0);
  });

  // KNOWN BUG (src/agent/cli/serve.ts): the `listening on` line is written
  // before the SIGTERM/SIGINT handlers are installed, so a signal sent as soon
  // as the line is read kills the agent by the default action (143/130, LMDB
  // not closed). The line must mean "ready, and stoppable". Fails until the
  // handlers are installed before the line is printed. It is a race, so each
  // signal is tried five times (in isolation it lost 10 times out of 10).
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test.concurrent(`${signal} sent right after the first line exits 0`, async () => {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        await using agent = await startAgent();
        agent.proc.kill(signal);
        codes.push(await agent.proc.exited);
      }
      expect(codes).toEqual([0, 0, 0, 0, 0]);
    });
  }
});
