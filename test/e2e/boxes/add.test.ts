/** `boxes add` and `boxes remove`: refusals, the plain paths, and 20 concurrent writers on one boxes.json (docs/cli.md "boxes add", docs/usage.md "Configuration"). */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import pkg from "../../../package.json" with { type: "json" };
import { startAgent } from "../../helpers/agent.ts";
import { addBox, boxesFile, closedPort, errorLine, timed, user } from "../../helpers/cli.ts";

const VERSION = pkg.version;

setDefaultTimeout(60_000);

// boxes add refuses a wrong token or an unreachable agent
describe("boxes add refusals", () => {
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

// boxes add / remove, the plain paths
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

// 20 concurrent writers on one KEG_HOME (docs/usage.md "Configuration")
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
