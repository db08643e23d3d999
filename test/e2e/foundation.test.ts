/**
 * Issue 3, the foundation, on the compiled binaries: the agent's token check
 * (SPEC §3), `boxes add|remove|list` (SPEC §4), boxes.json under concurrent
 * writers (SPEC §5 "Client storage"), usage errors and exit codes.
 * Acceptance point 2 (standalone binaries) is in binaries.test.ts.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { agentCommand, startAgent, type Agent } from "../helpers/agent.ts";
import { agentBin } from "../helpers/bin.ts";
import { kegUser, type KegResult, type KegUser } from "../helpers/keg.ts";
import { tempDir } from "../helpers/tmp.ts";

const VERSION = pkg.version;

// bunfig.toml's `[test] timeout` is not read by bun test (only --timeout and
// setDefaultTimeout are), so tests that start agents would get 5 s.
setDefaultTimeout(60_000);

/** A keg user whose KEG_HOME is removed at the end of the test (`using keg = user()`). */
function user(env: Record<string, string> = {}): KegUser & Disposable {
  const keg = kegUser(env);
  return Object.assign(keg, { [Symbol.dispose]: () => rmSync(keg.home, { recursive: true, force: true }) });
}

/** Runs keg and measures its wall time. */
async function timed(keg: KegUser, args: string[], options?: { env?: Record<string, string> }): Promise<KegResult & { ms: number }> {
  const started = performance.now();
  const result = await keg.run(args, options);
  return { ...result, ms: performance.now() - started };
}

async function addBox(keg: KegUser, agent: Agent, name: string, token: string) {
  const added = await keg.run(["boxes", "add", "--name", name, "--address", agent.url, "--token", token]);
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`Added box '${name}'`) });
}

/** A TCP port that was just free: bound, then closed, so nothing answers there. */
function closedPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** The one `Error: …` line of SPEC §4. */
function errorLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("Error: ");
  return lines[0]!;
}

const boxesFile = (keg: KegUser) => join(keg.home, "boxes.json");

// ---------------------------------------------------------------------------
// Acceptance 3: the token check (SPEC §3)
// ---------------------------------------------------------------------------
describe("agent authentication (acceptance 3)", () => {
  const call = (agent: Agent, method: string, path: string, authorization?: string) =>
    fetch(`${agent.url}${path}`, {
      method,
      headers: authorization === undefined ? {} : { authorization },
      body: method === "POST" ? "{}" : undefined,
    });

  /** Every /v1 route so far, an unknown one included, for GET and POST, must answer 401 JSON. */
  async function expectRefusedEverywhere(agent: Agent, authorization: string | undefined) {
    for (const path of ["/v1/whoami", "/v1/status", "/v1/xyz"]) {
      for (const method of ["GET", "POST"]) {
        const response = await call(agent, method, path, authorization);
        const body = await response.json().catch(() => "not JSON");
        expect({ request: `${method} ${path}`, status: response.status, type: response.headers.get("content-type"), body }).toEqual({
          request: `${method} ${path}`,
          status: 401,
          type: expect.stringContaining("application/json"),
          body: { error: { code: "unauthorized", message: expect.stringContaining("keg-agent users add") } },
        });
      }
    }
  }

  test.concurrent("/health answers 200 with version and name without a token", async () => {
    await using agent = await startAgent({ name: "bench-7" });
    const response = await fetch(`${agent.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ version: VERSION, name: "bench-7" });
  });

  test.concurrent("no token, a malformed header and a wrong token get 401 on every /v1 route, unknown ones included", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    await expectRefusedEverywhere(agent, undefined);
    await expectRefusedEverywhere(agent, "Bearer");
    await expectRefusedEverywhere(agent, "Bearer keg_wrong");
    await expectRefusedEverywhere(agent, `Bearer ${token}x`);
    await expectRefusedEverywhere(agent, `Basic ${token}`);
    // The same routes do answer with the token, so the 401s above are the token check.
    const ok = await call(agent, "GET", "/v1/status", `Bearer ${token}`);
    expect(ok.status).toBe(200);
  });

  test.concurrent("a removed user's tokens get 401 while serve keeps running; other users are untouched", async () => {
    await using agent = await startAgent();
    const bob = await agent.addUser("bob");
    const alice = await agent.addUser("alice");
    const before = await call(agent, "GET", "/v1/whoami", `Bearer ${bob}`);
    expect(await before.json()).toEqual({ user: "bob", version: VERSION, name: "testbox" });

    const removed = await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);
    expect(removed).toEqual({ code: 0, stdout: "", stderr: "Revoked 1 token\n" });
    expect(agent.proc.exitCode).toBeNull();

    await expectRefusedEverywhere(agent, `Bearer ${bob}`);
    const still = await call(agent, "GET", "/v1/whoami", `Bearer ${alice}`);
    expect(await still.json()).toEqual({ user: "alice", version: VERSION, name: "testbox" });
    const listed = await agentCommand(["users", "list", "--state-dir", agent.stateDir]);
    expect(listed).toEqual({ code: 0, stdout: "alice\t1 token\n", stderr: "" });

    const again = await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);
    expect(again.code).toBe(1);
    expect(errorLine(again.stderr)).toContain("bob");
  });

  test.concurrent("a user with two tokens can use either; users list shows the user once with both", async () => {
    await using agent = await startAgent();
    const first = await agent.addUser("alice");
    const second = await agent.addUser("alice");
    expect(first).not.toBe(second);
    for (const token of [first, second]) {
      // SPEC §3: ≥128 random bits, printed alone on stdout.
      expect(token).toMatch(/^\S{22,}$/);
      const response = await call(agent, "GET", "/v1/whoami", `Bearer ${token}`);
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 200,
        body: { user: "alice", version: VERSION, name: "testbox" },
      });
    }
    const listed = await agentCommand(["users", "list", "--state-dir", agent.stateDir]);
    expect(listed).toEqual({ code: 0, stdout: "alice\t2 tokens\n", stderr: "" });
  });

  test.concurrent("no token appears in clear anywhere in the state dir", async () => {
    await using agent = await startAgent();
    const tokens = [await agent.addUser("alice"), await agent.addUser("alice"), await agent.addUser("bob")];
    // Use them once so anything the agent might log or cache about a request is on disk too.
    for (const token of tokens) expect((await call(agent, "GET", "/v1/whoami", `Bearer ${token}`)).status).toBe(200);
    await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);

    const files = readdirSync(agent.stateDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const entry of files) {
      const bytes = readFileSync(join(entry.parentPath, entry.name));
      for (const token of tokens) {
        // The whole token, and its random tail alone (in case a prefix is stored apart).
        expect({ file: entry.name, whole: bytes.includes(token), tail: bytes.includes(token.slice(-20)) }).toEqual({
          file: entry.name,
          whole: false,
          tail: false,
        });
      }
    }
  });

  test.concurrent("users add refuses a bad name with exit 2", async () => {
    using state = tempDir("keg-state-");
    const result = await agentCommand(["users", "add", "../x", "--state-dir", state.path]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
    expect(errorLine(result.stderr)).toContain("../x");
  });
});

// ---------------------------------------------------------------------------
// Acceptance 4: boxes add refuses a wrong token or an unreachable agent
// ---------------------------------------------------------------------------
describe("boxes add refusals (acceptance 4)", () => {
  test.concurrent("a wrong token: exit 1 within 5 s naming the address and 'keg-agent users add'; boxes.json not created", async () => {
    await using agent = await startAgent();
    await agent.addUser("alice");
    using keg = user();
    const result = await timed(keg, ["boxes", "add", "--name", "lab", "--address", agent.url, "--token", "keg_wrong"]);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(5000);
    const line = errorLine(result.stderr);
    expect(line).toContain(agent.url);
    expect(line).toContain("keg-agent users add");
    expect(line).not.toContain("keg_wrong");
    expect(result.stdout).toBe("");
    expect(existsSync(boxesFile(keg))).toBe(false);
  });

  test.concurrent("a wrong token leaves an existing boxes.json byte for byte as it was", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    using keg = user();
    await addBox(keg, agent, "lab", token);
    const before = readFileSync(boxesFile(keg));
    const mtime = statSync(boxesFile(keg)).mtimeMs;
    const result = await timed(keg, ["boxes", "add", "--name", "lab2", "--address", agent.url, "--token", `${token}x`]);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(5000);
    expect(errorLine(result.stderr)).toContain(agent.url);
    expect(readFileSync(boxesFile(keg)).equals(before)).toBe(true);
    expect(statSync(boxesFile(keg)).mtimeMs).toBe(mtime);
    expect(readdirSync(keg.home)).toEqual(["boxes.json"]);
  });

  test.concurrent("an unreachable address (a closed port): exit 1 within 5 s naming the address; nothing written", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    using keg = user();
    const address = `http://127.0.0.1:${closedPort()}`;

    const fresh = await timed(keg, ["boxes", "add", "--name", "lab", "--address", address, "--token", token]);
    expect(fresh.code).toBe(1);
    expect(fresh.ms).toBeLessThan(5000);
    expect(errorLine(fresh.stderr)).toContain(address);
    expect(existsSync(boxesFile(keg))).toBe(false);

    await addBox(keg, agent, "real", token);
    const before = readFileSync(boxesFile(keg));
    const again = await timed(keg, ["boxes", "add", "--name", "lab", "--address", address, "--token", token]);
    expect(again.code).toBe(1);
    expect(again.ms).toBeLessThan(5000);
    expect(errorLine(again.stderr)).toContain(address);
    expect(readFileSync(boxesFile(keg)).equals(before)).toBe(true);
  });

  // Serial: its bound is the client's own time limit plus start-up, so it must not share the CPU with the rest.
  test("an address that accepts but never answers: exit 1 within 5 s naming the address and how long it waited", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      using keg = user();
      const address = `http://127.0.0.1:${silent.port}`;
      const result = await timed(keg, ["boxes", "add", "--name", "lab", "--address", address, "--token", "keg_x"]);
      expect(result.code).toBe(1);
      expect(result.ms).toBeLessThan(5000);
      const line = errorLine(result.stderr);
      expect(line).toContain(address);
      expect(line).toMatch(/\d+ s\b/);
      expect(existsSync(boxesFile(keg))).toBe(false);
    } finally {
      silent.stop(true);
    }
  });
});

// ---------------------------------------------------------------------------
// boxes add / remove, the plain paths
// ---------------------------------------------------------------------------
describe("boxes add and remove", () => {
  test.concurrent("without --name the box takes the agent's --name; identity and version are stored; a duplicate is exit 1", async () => {
    await using agent = await startAgent({ name: "bench-3" });
    const token = await agent.addUser("carol");
    using keg = user();
    const added = await keg.run(["boxes", "add", "--address", `${agent.url}/`, "--token", token]);
    expect(added).toEqual({ code: 0, stdout: "", stderr: `Added box 'bench-3' at ${agent.url} as carol (agent ${VERSION})\n` });
    expect(JSON.parse(readFileSync(boxesFile(keg), "utf8"))).toEqual({
      boxes: [{ name: "bench-3", address: agent.url, token, user: "carol", version: VERSION }],
    });
    const before = readFileSync(boxesFile(keg));
    const dup = await keg.run(["boxes", "add", "--address", agent.url, "--token", token]);
    expect(dup.code).toBe(1);
    expect(errorLine(dup.stderr)).toContain("'bench-3' already exists");
    expect(readFileSync(boxesFile(keg)).equals(before)).toBe(true);
  });

  test.concurrent("boxes remove forgets a box; an unknown name is exit 1 listing the known ones", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    using keg = user();
    for (const name of ["alpha", "beta", "gamma"]) await addBox(keg, agent, name, token);
    expect(await keg.run(["boxes", "remove", "--name", "beta"])).toEqual({ code: 0, stdout: "", stderr: "Removed box 'beta'\n" });
    const unknown = await keg.run(["boxes", "remove", "--name", "nope"]);
    expect(unknown.code).toBe(1);
    expect(errorLine(unknown.stderr)).toBe("Error: Unknown box 'nope'. Known boxes: alpha, gamma.");
    const listed = await keg.run(["boxes", "list", "--json"]);
    expect(JSON.parse(listed.stdout).map((b: { name: string }) => b.name)).toEqual(["alpha", "gamma"]);
  });
});

// ---------------------------------------------------------------------------
// Acceptance 5: 20 concurrent writers on one KEG_HOME (SPEC §5 "Client storage")
// ---------------------------------------------------------------------------
test("20 concurrent boxes add keep all 20 boxes, boxes.json is valid JSON at every read, mode 0600", async () => {
  await using agent = await startAgent();
  const token = await agent.addUser("alice");
  using keg = user();
  const path = boxesFile(keg);
  const names = Array.from({ length: 20 }, (_, i) => `box-${String(i).padStart(2, "0")}`);
  const procs = names.map((name) => keg.spawn(["boxes", "add", "--name", name, "--address", agent.url, "--token", token]));
  try {
    let finished = false;
    const results = Promise.all(
      procs.map(async (proc) => {
        const [stdout, stderr, code] = await Promise.all([
          new Response(proc.stdout as ReadableStream).text(),
          new Response(proc.stderr as ReadableStream).text(),
          proc.exited,
        ]);
        return { stdout, stderr, code };
      }),
    ).finally(() => (finished = true));

    // The reader: absent only before the first write, then always whole JSON.
    let reads = 0;
    let appeared = false;
    const bad: string[] = [];
    while (!finished) {
      let text: string | undefined;
      try {
        text = readFileSync(path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        if (appeared) bad.push("boxes.json vanished after it was written");
      }
      if (text !== undefined) {
        appeared = true;
        reads++;
        try {
          const parsed = JSON.parse(text);
          if (!Array.isArray(parsed.boxes)) bad.push(`no boxes array: ${text.slice(0, 80)}`);
        } catch {
          bad.push(`torn read: ${JSON.stringify(text.slice(-80))}`);
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }

    const outcomes = await results;
    expect(outcomes.map((o) => o.code)).toEqual(names.map(() => 0));
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    const stored = JSON.parse(readFileSync(path, "utf8")).boxes as { name: string }[];
    expect(stored.map((b) => b.name).sort()).toEqual(names);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // No lock file or temp file is left behind.
    expect(readdirSync(keg.home)).toEqual(["boxes.json"]);
  } finally {
    for (const proc of procs) if (proc.exitCode === null) proc.kill("SIGKILL");
  }
});

// ---------------------------------------------------------------------------
// Acceptance 6: boxes list with an agent gone (SPEC §4, issue 3: offline within 3 s)
// ---------------------------------------------------------------------------
describe("boxes list with an agent gone (acceptance 6)", () => {
  /** The table row of box `name`, split on runs of spaces. */
  const row = (table: string, name: string) =>
    table
      .split("\n")
      .map((line) => line.trim().split(/\s{2,}/))
      .find((cells) => cells[0] === name);

  test("a SIGKILLed agent: list returns within 3.5 s, that box offline, the other current (table and --json)", async () => {
    await using up = await startAgent({ name: "up" });
    await using down = await startAgent({ name: "down" });
    using keg = user();
    await addBox(keg, up, "up", await up.addUser("alice"));
    await addBox(keg, down, "down", await down.addUser("alice"));
    await down.kill();

    const [table, json] = await Promise.all([timed(keg, ["boxes", "list"]), timed(keg, ["boxes", "list", "--json"])]);
    expect({ code: table.code, stderr: table.stderr }).toEqual({ code: 0, stderr: "" });
    expect(table.ms).toBeLessThan(3500);
    expect(table.stdout.split("\n")[0]).toMatch(/^Name\s+Address\s+User\s+Version\s+Status$/);
    expect(row(table.stdout, "up")).toEqual(["up", up.url, "alice", VERSION, "current"]);
    expect(row(table.stdout, "down")).toEqual(["down", down.url, "alice", "-", "offline"]);

    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json.ms).toBeLessThan(3500);
    const rows = JSON.parse(json.stdout) as { name: string; status: string; version: string | null }[];
    expect(rows.map(({ name, status, version }) => ({ name, status, version }))).toEqual([
      { name: "up", status: "current", version: VERSION },
      { name: "down", status: "offline", version: null },
    ]);
  });

  test("a SIGSTOPped agent (connection accepted, never answered) is offline within 3.5 s too", async () => {
    await using up = await startAgent({ name: "up" });
    await using frozen = await startAgent({ name: "frozen" });
    using keg = user();
    await addBox(keg, up, "up", await up.addUser("alice"));
    await addBox(keg, frozen, "frozen", await frozen.addUser("alice"));
    frozen.proc.kill("SIGSTOP");
    try {
      const [table, json] = await Promise.all([timed(keg, ["boxes", "list"]), timed(keg, ["boxes", "list", "--json"])]);
      expect(table.code).toBe(0);
      expect(table.ms).toBeLessThan(3500);
      expect(row(table.stdout, "frozen")?.at(-1)).toBe("offline");
      expect(row(table.stdout, "up")?.at(-1)).toBe("current");
      expect(json.code).toBe(0);
      expect(json.ms).toBeLessThan(3500);
      expect(JSON.parse(json.stdout).map((r: { status: string }) => r.status)).toEqual(["current", "offline"]);
    } finally {
      frozen.proc.kill("SIGCONT");
    }
  });

  test.concurrent("no boxes: list says how to add one, --json prints []", async () => {
    using keg = user();
    expect(await keg.run(["boxes", "list"])).toEqual({
      code: 0,
      stdout: "",
      stderr: "No boxes yet. Add one with 'keg boxes add --address URL --token TOKEN'.\n",
    });
    const json = await keg.run(["boxes", "list", "--json"]);
    expect({ code: json.code, rows: JSON.parse(json.stdout) }).toEqual({ code: 0, rows: [] });
  });
});

// ---------------------------------------------------------------------------
// Acceptance 7: usage errors (exit 2 naming the flag) and box selection
// ---------------------------------------------------------------------------
describe("usage errors (acceptance 7)", () => {
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

// Box selection (SPEC §4) through `keg python ps`, a command that only reads;
// resolveBox itself is also covered in test/unit/boxes-file.test.ts.
describe("box selection through a command (acceptance 7)", () => {
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

// ---------------------------------------------------------------------------
// Version, help, and the agent's serve contract (SPEC §3)
// ---------------------------------------------------------------------------
describe("version, help and serve", () => {
  test.concurrent("keg --version and keg-agent --version print the version and exit 0", async () => {
    using keg = user();
    expect(await keg.run(["--version"])).toEqual({ code: 0, stdout: `keg ${VERSION}\n`, stderr: "" });
    expect(await agentCommand(["--version"])).toEqual({ code: 0, stdout: `keg-agent ${VERSION}\n`, stderr: "" });
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
    let seen = "";
    while (!seen.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve exited before its first line: ${seen}${await stderr}`);
      seen += new TextDecoder().decode(value);
    }
    const line = seen.slice(0, seen.indexOf("\n"));
    const port = Number(/:(\d+)$/.exec(line)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(line).toBe(`keg-agent ${VERSION} listening on http://127.0.0.1:${port}`);
    // The printed port is the real one.
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toMatchObject({ version: VERSION, name: "t1" });

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    reader.releaseLock();
    expect(await stderr).toBe("");
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
