/**
 * `keg update`: agents built as an older version are updated to the agent
 * beside keg, restart in place (same pid, same port, same state), skip a
 * locked box, refuse bad binaries and keep detached runs (docs/cli.md "keg update").
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, readlinkSync, truncateSync, writeFileSync, chmodSync, copyFileSync, statSync } from "node:fs";
import pkg from "../../../package.json" with { type: "json" };
import { startAgent, type Agent } from "../../helpers/agent.ts";
import { agentBin } from "../../helpers/bin.ts";
import { addBox, closedPort, errorLine, user } from "../../helpers/cli.ts";
import { agentCopy, agentWithVersion, besideExecutable, health, OLD_VERSION } from "../../helpers/fleet.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { isAlive, until } from "../../helpers/until.ts";

setDefaultTimeout(120_000);
const VERSION = pkg.version;
let oldAgent: string;

beforeAll(async () => {
  oldAgent = await agentWithVersion(OLD_VERSION);
});

/** An agent running its own copy of the old build. */
async function oldBox(name: string): Promise<Agent & { exe: string }> {
  const exe = agentCopy(oldAgent);
  const agent = await startAgent({ binary: exe, name });
  return Object.assign(agent, { exe });
}

const sha = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

describe("update --all", () => {
  const agents: (Agent & { exe: string })[] = [];
  afterAll(async () => {
    for (const agent of agents) await agent[Symbol.asyncDispose]();
  });

  test("three boxes, one locked by bob: the header and one line a box in list order; the others restart in place at the new version; list shows outdated, then current", async () => {
    agents.push(...(await Promise.all(["b1", "b2", "b3"].map(oldBox))));
    const [b1, b2, b3] = agents as [Agent & { exe: string }, Agent & { exe: string }, Agent & { exe: string }];
    using alice = user();
    for (const agent of agents) await addBox(alice, agent, agent === b1 ? "b1" : agent === b2 ? "b2" : "b3", await agent.addUser("alice"));
    using bob = user();
    await addBox(bob, b2, "b2", await b2.addUser("bob"));
    expect((await bob.run(["boxes", "lock", "--box", "b2", "--note", "flashing"])).code).toBe(0);

    const before = JSON.parse((await alice.run(["boxes", "list", "--json"])).stdout);
    expect(before.map((row: any) => [row.name, row.version, row.status, row.outdated])).toEqual([
      ["b1", OLD_VERSION, "outdated", "older"],
      ["b2", OLD_VERSION, "outdated", "older"],
      ["b3", OLD_VERSION, "outdated", "older"],
    ]);
    const started = await Promise.all(agents.map((agent) => health(agent.url)));
    const b2Hash = sha(b2.exe);

    // No --agent-binary: the keg-agent beside the keg under test.
    const result = await alice.run(["update", "--all"]);
    expect(result).toEqual({
      code: 0,
      stdout: `Updating all boxes...\n  b1: updated to ${VERSION}\n  b2: SKIPPED (locked or busy)\n  b3: updated to ${VERSION}\n`,
      stderr: "",
    });

    for (const agent of [b1, b3]) {
      // Same process, same address, now the new image.
      expect(isAlive(agent.pid)).toBe(true);
      expect(readlinkSync(`/proc/${agent.pid}/exe`)).toBe(agent.exe);
      const now = await health(agent.url);
      expect(now.version).toBe(VERSION);
      expect(now.started).not.toBe(started[agents.indexOf(agent)]!.started);
      expect(sha(agent.exe)).toBe(sha(agentBin()));
      expect(besideExecutable(agent.exe)).toEqual(["keg-agent"]);
    }
    expect(b1.output()).toMatch(new RegExp(`event=update-installed user=alice from=${OLD_VERSION} to=${VERSION} restarting=true\n`));
    expect(b1.output()).toMatch(/event=agent-restarting pid=\d+ listen=127\.0\.0\.1:\d+\n/);
    // The locked box is untouched: the same image and file, and bob's lock.
    expect(await health(b2.url)).toEqual(started[1]!);
    expect(sha(b2.exe)).toBe(b2Hash);

    const after = JSON.parse((await alice.run(["boxes", "list", "--json"])).stdout);
    expect(after.map((row: any) => [row.name, row.version, row.status, row.outdated, row.locked_by])).toEqual([
      ["b1", VERSION, "current", null, null],
      ["b2", OLD_VERSION, "outdated", "older", "bob"],
      ["b3", VERSION, "current", null, null],
    ]);
    const table = (await alice.run(["boxes", "list"])).stdout;
    expect(table).toMatch(/^b1 .* current/m);
    expect(table).toMatch(/^b2 .* outdated/m);

    // Again: a box that runs the same binary is already at it.
    expect(await alice.run(["update", "--all"])).toEqual({
      code: 0,
      stdout: `Updating all boxes...\n  b1: already at ${VERSION}\n  b2: SKIPPED (locked or busy)\n  b3: already at ${VERSION}\n`,
      stderr: "",
    });
    // The state is kept: alice's token, the box's runs and history.
    const history = await alice.run(["boxes", "history", "--box", "b1", "--json"]);
    expect(JSON.parse(history.stdout).map((e: any) => [e.event, e.command])).toEqual([
      ["command-taken", "update"],
      ["cleared-at-start", "update"],
    ]);
  });

  test("an offline box gets its line and exit 1; --box updates one box", async () => {
    const agent = await oldBox("solo");
    await using _ = agent;
    using alice = user();
    await addBox(alice, agent, "solo", await agent.addUser("alice"));
    // boxes add refuses an unreachable agent: write the entry of a box that went away since.
    const boxes = JSON.parse(readFileSync(`${alice.home}/boxes.json`, "utf8"));
    boxes.boxes.push({ name: "gone", address: `http://127.0.0.1:${closedPort()}`, token: "x" });
    writeFileSync(`${alice.home}/boxes.json`, JSON.stringify(boxes));

    expect(await alice.run(["update", "--all"])).toEqual({
      code: 1,
      stdout: `Updating all boxes...\n  solo: updated to ${VERSION}\n  gone: offline\n`,
      stderr: "",
    });
    expect(await alice.run(["update", "--box", "solo"])).toEqual({ code: 0, stdout: `solo: already at ${VERSION}\n`, stderr: "" });
    const offline = await alice.run(["update", "--box", "gone"]);
    expect(offline.code).toBe(1);
    expect(errorLine(offline.stderr)).toContain("Cannot reach box 'gone'");
  });
});

describe("refused binaries", () => {
  test("a truncated binary, a wrong hash and a binary that is not a keg-agent are refused; the agent serves on with its version, users and user lock; nothing is left beside it", async () => {
    const agent = await oldBox("lab");
    await using _ = agent;
    using alice = user();
    const token = await agent.addUser("alice");
    await addBox(alice, agent, "lab", token);
    const bobToken = await agent.addUser("bob");
    expect((await alice.run(["boxes", "lock", "--box", "lab", "--note", "mine"])).code).toBe(0);
    const started = await health(agent.url);
    const ownHash = sha(agent.exe);
    using bad = tempDir("keg-bad-agents-");

    const truncated = bad.join("truncated");
    copyFileSync(agentBin(), truncated);
    truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
    const script = bad.join("not-an-agent");
    writeFileSync(script, "#!/bin/sh\necho hello from a script\n");
    chmodSync(script, 0o755);

    const refusals: string[] = [];
    for (const binary of [truncated, script]) {
      const result = await alice.run(["update", "--box", "lab", "--agent-binary", binary]);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: "" });
      refusals.push(errorLine(result.stderr));
    }
    expect(refusals[0]).toStartWith("Error: Update of box 'lab' failed: the new agent did not start");
    expect(refusals[1]).toBe(
      "Error: Update of box 'lab' failed: the binary is not a keg-agent ('--version' printed 'hello from a script', not a keg-agent version line).",
    );

    // Cut short on the way: the hash sent is the whole binary's, the body only half of it.
    const whole = readFileSync(agentBin());
    const wrongHash = await fetch(`${agent.url}/v1/update?sha256=${sha(agentBin())}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: whole.subarray(0, 1024 * 1024),
    });
    expect(wrongHash.status).toBe(400);
    expect(((await wrongHash.json()) as any).error.message).toMatch(/^the binary arrived with SHA-256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it was sent with/);
    // A --all line says why.
    const all = await alice.run(["update", "--all", "--agent-binary", script]);
    expect(all).toEqual({ code: 1, stdout: expect.stringMatching(/^Updating all boxes\.\.\.\n  lab: failed: the binary is not a keg-agent \(/), stderr: "" });

    expect(await health(agent.url)).toEqual(started);
    expect(agent.output()).toMatch(/event=update-refused user=alice reason="the binary is not a keg-agent/);
    expect(sha(agent.exe)).toBe(ownHash);
    expect(besideExecutable(agent.exe)).toEqual(["keg-agent"]);
    const list = JSON.parse((await alice.run(["boxes", "list", "--json"])).stdout);
    expect(list).toMatchObject([{ name: "lab", version: OLD_VERSION, locked_by: "alice", lock_note: "mine", busy: null }]);
    const whoami = await fetch(`${agent.url}/v1/whoami`, { headers: { authorization: `Bearer ${bobToken}` } });
    expect(await whoami.json()).toMatchObject({ user: "bob", version: OLD_VERSION });
  });
});

describe("a binary whose --version hangs", () => {
  test("a child left holding its output is ended with it: refused after 15 s, the box free, nothing beside the executable", async () => {
    const agent = await oldBox("lab");
    await using _ = agent;
    using alice = user();
    await addBox(alice, agent, "lab", await agent.addUser("alice"));
    using bad = tempDir("keg-hanging-agent-");
    const liar = bad.join("liar");
    // Prints a version line, then sleeps in a child that keeps the output pipe open.
    writeFileSync(liar, '#!/bin/sh\necho "keg-agent 9.9.9 (commit x)"\nsleep 1000\n');
    chmodSync(liar, 0o755);
    const result = await alice.run(["update", "--box", "lab", "--agent-binary", liar]);
    expect({ code: result.code, line: errorLine(result.stderr) }).toEqual({ code: 1, line: "Error: Update of box 'lab' failed: the new agent did not answer '--version' within 15 s." });
    expect(besideExecutable(agent.exe)).toEqual(["keg-agent"]);
    const list = JSON.parse((await alice.run(["boxes", "list", "--json"])).stdout);
    expect(list).toMatchObject([{ name: "lab", version: OLD_VERSION, busy: null }]);
  }, 60_000);
});

describe("detached runs", () => {
  test("a detached run keeps running across an update, keeps logging, and is reattachable with its exit code", async () => {
    const agent = await oldBox("lab");
    await using _ = agent;
    using alice = user();
    await addBox(alice, agent, "lab", await agent.addUser("alice"));
    using dir = tempDir("keg-detached-", {
      "ticks.py": [
        "import os, sys, time",
        'print("before update", flush=True)',
        "deadline = time.time() + 100",
        "while not os.path.exists(sys.argv[1]) and time.time() < deadline:",
        "    time.sleep(0.02)",
        'print("after update", flush=True)',
        "while not os.path.exists(sys.argv[2]) and time.time() < deadline:",
        "    time.sleep(0.02)",
        "sys.exit(7)",
        "",
      ].join("\n"),
    });
    const updated = dir.join("updated");
    const go = dir.join("go");
    const started = await alice.run(["python", "run", "ticks.py", updated, go, "--detach", "--box", "lab"], { cwd: dir.path });
    expect(started.code).toBe(0);
    const id = started.stdout.trim();

    expect(await alice.run(["update", "--box", "lab"])).toEqual({ code: 0, stdout: `lab: updated to ${VERSION}\n`, stderr: "" });
    expect((await health(agent.url)).version).toBe(VERSION);
    const ps = JSON.parse((await alice.run(["python", "ps", "--box", "lab", "--json"])).stdout);
    expect(ps).toMatchObject([{ id, status: "running", detached: true }]);

    writeFileSync(updated, "");
    const reattached = alice.spawn(["python", "--reattach", id, "--box", "lab"]);
    let seen = "";
    const reading = (async () => {
      for await (const chunk of reattached.stdout as ReadableStream<Uint8Array>) seen += new TextDecoder().decode(chunk);
    })();
    await until(() => seen.includes("after update"), { what: "the run's output after the update" });
    writeFileSync(go, "");
    expect(await reattached.exited).toBe(7);
    await reading;
    expect(seen).toBe("before update\nafter update\n");
    const done = JSON.parse((await alice.run(["python", "ps", "--box", "lab", "--json"])).stdout);
    expect(done).toMatchObject([{ id, status: "exited", exit_code: 7 }]);
  });
});

describe("bad input", () => {
  test("--box with --all, a missing --agent-binary, and a locked box with --box: one line each, nothing sent", async () => {
    using alice = user();
    const both = await alice.run(["update", "--all", "--box", "lab"]);
    expect({ code: both.code, stdout: both.stdout, line: errorLine(both.stderr) }).toEqual({
      code: 2,
      stdout: "",
      line: "Error: Give --box NAME or --all, not both. See 'keg update --help'.",
    });
    const missing = await alice.run(["update", "--all", "--agent-binary", "/nonexistent/keg-agent"]);
    expect({ code: missing.code, stdout: missing.stdout, line: errorLine(missing.stderr) }).toEqual({
      code: 1,
      stdout: "",
      line: "Error: --agent-binary /nonexistent/keg-agent is not a file. Give the path of a keg-agent binary.",
    });
    using files = tempDir("keg-empty-agent-");
    writeFileSync(files.join("empty"), "");
    const empty = await alice.run(["update", "--all", "--agent-binary", files.join("empty")]);
    expect({ code: empty.code, stdout: empty.stdout, line: errorLine(empty.stderr) }).toEqual({
      code: 1,
      stdout: "",
      line: `Error: --agent-binary ${files.join("empty")} is empty. Give the path of a keg-agent binary.`,
    });

    const agent = await oldBox("lab");
    await using _ = agent;
    await addBox(alice, agent, "lab", await agent.addUser("alice"));
    using bob = user();
    await addBox(bob, agent, "lab", await agent.addUser("bob"));
    expect((await bob.run(["boxes", "lock", "--box", "lab"])).code).toBe(0);
    const locked = await alice.run(["update", "--box", "lab"]);
    expect({ code: locked.code, stdout: locked.stdout }).toEqual({ code: 75, stdout: "" });
    expect(errorLine(locked.stderr)).toMatch(/^Error: Box 'lab' is locked by bob \(since .*\)\. Use --force-command to override\.$/);
    expect((await health(agent.url)).version).toBe(OLD_VERSION);
    expect(besideExecutable(agent.exe)).toEqual(["keg-agent"]);
  });
});
