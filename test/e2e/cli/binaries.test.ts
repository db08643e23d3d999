/**
 * dist/keg and dist/keg-agent are standalone. Copied
 * alone into an empty directory and run with an empty environment (no Bun, no
 * node_modules, no HOME), they start, and the agent opens its LMDB state (the
 * native addons are embedded: docs/development.md "Compiling").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { tempDir } from "../../helpers/tmp.ts";
import { firstLine, notLogLines, ownRightsLine } from "../../helpers/agent.ts";

const VERSION = pkg.version;

// bunfig.toml's `[test] timeout` is not read by bun test (only --timeout and
// setDefaultTimeout are), so tests that start agents would get 5 s.
setDefaultTimeout(60_000);
const dist = join(import.meta.dir, "..", "..", "..", "dist");

/** Runs a command under `env -i PATH=/usr/bin:/bin` plus `vars`, in `cwd`. */
function bare(cwd: string, cmd: string[], vars: Record<string, string> = {}) {
  const assignments = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  return Bun.spawn(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", ...assignments, ...cmd], { cwd, stdout: "pipe", stderr: "pipe" });
}

async function runBare(cwd: string, cmd: string[], vars: Record<string, string> = {}) {
  const proc = bare(cwd, cmd, vars);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** An empty directory holding only copies of the two binaries. */
function copiedBinaries() {
  const dir = tempDir("keg-standalone-");
  for (const name of ["keg", "keg-agent"]) {
    copyFileSync(join(dist, name), dir.join(name));
    chmodSync(dir.join(name), 0o755);
  }
  expect(readdirSync(dir.path).sort()).toEqual(["keg", "keg-agent"]);
  return dir;
}

test.concurrent("copied alone, both binaries run --version with an empty environment", async () => {
  using bin = copiedBinaries();
  // The version and the commit of the build (docs/cli.md "keg --version").
  const COMMIT = String.raw`\(commit [0-9a-f]{12}(-dirty)?\)`;
  expect(await runBare(bin.path, ["./keg", "--version"])).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^keg ${VERSION} ${COMMIT}\n$`)), stderr: "" });
  expect(await runBare(bin.path, ["./keg-agent", "--version"])).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^keg-agent ${VERSION} ${COMMIT}\n$`)), stderr: "" });
});

test.concurrent("the copied agent stores users and serves /health and /v1/whoami from LMDB; the copied keg registers it", async () => {
  using bin = copiedBinaries();
  using state = tempDir("keg-standalone-state-");
  using home = tempDir("keg-standalone-home-");

  const added = await runBare(bin.path, ["./keg-agent", "users", "add", "alice", "--state-dir", state.path]);
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: "" });
  const token = added.stdout.trim();
  expect(added.stdout).toBe(`${token}\n`);

  await using serve = bare(bin.path, ["./keg-agent", "serve", "--listen", "127.0.0.1:0", "--state-dir", state.path, "--name", "copied"]);
  const stderr = new Response(serve.stderr).text();
  const reader = serve.stdout.getReader();
  const line = await firstLine(reader, stderr);
  const match = /^keg-agent (\S+) listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
  expect(match?.[1]).toBe(VERSION);
  const url = match![2]!;

  const health = await fetch(`${url}/health`);
  expect({ status: health.status, body: await health.json() }).toMatchObject({ status: 200, body: { version: VERSION, name: "copied" } });
  const whoami = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  expect({ status: whoami.status, body: await whoami.json() }).toEqual({ status: 200, body: { user: "alice", version: VERSION, name: "copied", max_upload_bytes: 256 * 1024 * 1024 } });
  expect((await fetch(`${url}/v1/whoami`)).status).toBe(401);

  // users commands work on the same LMDB environment while serve runs.
  const second = await runBare(bin.path, ["./keg-agent", "users", "add", "alice", "--state-dir", state.path]);
  expect(second.code).toBe(0);
  const listed = await runBare(bin.path, ["./keg-agent", "users", "list", "--state-dir", state.path]);
  expect(listed).toEqual({ code: 0, stdout: "alice\t2 tokens\n", stderr: "" });
  const viaSecond = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${second.stdout.trim()}` } });
  expect(viaSecond.status).toBe(200);

  // The copied CLI, also with an empty environment, registers and lists the box.
  const kegVars = { KEG_HOME: home.path };
  const boxAdd = await runBare(bin.path, ["./keg", "boxes", "add", "--address", url, "--token", token], kegVars);
  expect({ code: boxAdd.code, stderr: boxAdd.stderr }).toEqual({ code: 0, stderr: `Added box 'copied' at ${url} as alice (agent ${VERSION})\n` });
  const boxList = await runBare(bin.path, ["./keg", "boxes", "list", "--json"], kegVars);
  expect(boxList.code).toBe(0);
  expect(JSON.parse(boxList.stdout)).toMatchObject([{ name: "copied", user: "alice", version: VERSION, status: "current" }]);

  serve.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
  reader.releaseLock();
  // stderr is the operator's log: event lines only, no token (docs/usage.md "Operating a box").
  const log = await stderr;
  expect(notLogLines(log)).toEqual([]);
  expect(log).toContain("event=agent-started");
  expect(log).not.toContain(token);
  expect(log).toMatch(ownRightsLine());
});
