/** Pure parts of the fleet work: version order, executable formats, log lines, the unit, the agent picker (docs/cli.md "keg update"). */
import { describe, expect, test } from "bun:test";
import { executableFormat } from "../../build/exe-format.ts";
import { formatLogLine } from "../../src/agent/log.ts";
import { serviceUnit } from "../../src/agent/service-unit.ts";
import { agentPicker } from "../../src/client/update.ts";
import { kegHome } from "../../src/config/paths.ts";
import { agentVersionIn, compareVersions } from "../../src/version.ts";

describe("versions", () => {
  test("semver order: numbers by value, a pre-release before its release", () => {
    const ordered = ["0.0.1-old", "0.0.1", "0.1.0-alpha", "0.1.0-alpha.2", "0.1.0-alpha.10", "0.1.0-beta", "0.1.0", "0.2.0", "0.10.0", "1.0.0"];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(ordered[i]!, ordered[i + 1]!)).toBeLessThan(0);
      expect(compareVersions(ordered[i + 1]!, ordered[i]!)).toBeGreaterThan(0);
    }
    expect(compareVersions("0.1.0", "0.1.0")).toBe(0);
  });

  test("a keg-agent --version line, with or without the commit, and nothing else", () => {
    expect(agentVersionIn("keg-agent 0.1.0 (commit 8e88808f9c1c-dirty)\n")).toBe("0.1.0");
    expect(agentVersionIn("keg-agent 0.0.1-old\n")).toBe("0.0.1-old");
    for (const other of ["keg 0.1.0 (commit abc)\n", "1.4.5\n", "keg-agent\n", "hello\nkeg-agent 0.1.0\n", ""]) expect(agentVersionIn(other)).toBeUndefined();
  });
});

test("executable formats from their headers", () => {
  const bytes = (length: number, set: (view: DataView) => void) => {
    const array = new Uint8Array(length);
    set(new DataView(array.buffer));
    return array;
  };
  expect(executableFormat(bytes(64, (v) => (v.setUint32(0, 0x7f454c46), v.setUint16(18, 0xb7, true))))).toEqual({ format: "elf", arch: "arm64" });
  expect(executableFormat(bytes(64, (v) => (v.setUint32(0, 0xfeedfacf, true), v.setUint32(4, 0x01000007, true))))).toEqual({ format: "macho", arch: "x64" });
  const pe = bytes(256, (v) => (v.setUint16(0, 0x5a4d, true), v.setUint32(0x3c, 0x80, true), v.setUint32(0x80, 0x50450000), v.setUint16(0x84, 0x8664, true)));
  expect(executableFormat(pe)).toEqual({ format: "pe", arch: "x64" });
  expect(executableFormat(new TextEncoder().encode("#!/bin/sh\necho hello\n".padEnd(64)))).toBeUndefined();
});

test("log lines: key=value with quoting where needed, or JSON; undefined fields left out", () => {
  const time = new Date("2026-03-20T14:30:00.000Z");
  expect(formatLogLine("text", "lock", { kind: "locked", user: "bob", note: 'say "hi"', generation: undefined }, time)).toBe(
    'time=2026-03-20T14:30:00.000Z event=lock kind=locked user=bob note="say \\"hi\\""\n',
  );
  expect(JSON.parse(formatLogLine("json", "run-ended", { exit_code: 3, signal: undefined }, time))).toEqual({ time: "2026-03-20T14:30:00.000Z", event: "run-ended", exit_code: 3 });
  // A value cannot start a line of its own.
  expect(formatLogLine("text", "x", { note: "a\nevent=forged" }, time)).toBe('time=2026-03-20T14:30:00.000Z event=x note="a\\nevent=forged"\n');
});

test("the unit: a state dir under /var/lib is a StateDirectory, elsewhere a writable path", () => {
  expect(serviceUnit("/usr/local/bin/keg-agent", [], "/var/lib/keg-agent")).toContain("StateDirectory=keg-agent\n");
  const elsewhere = serviceUnit("/usr/local/bin/keg-agent", [], "/srv/keg");
  expect(elsewhere).toContain("ReadWritePaths=/srv/keg\n");
  expect(elsewhere).toContain("ReadWritePaths=/usr/local/bin\n");
  expect(elsewhere).not.toContain("StateDirectory=");
});

test("the agent for a box: --agent-binary for all, else keg-agent-PLATFORM beside keg, else keg-agent; a clear refusal otherwise", () => {
  const files = new Set(["/opt/keg/keg-agent-linux-arm64", "/opt/keg/keg-agent", "/tmp/mine"]);
  const hashed: string[] = [];
  const hash = (path: string) => (hashed.push(path), `sha-of-${path}`);
  const pick = agentPicker(undefined, "/opt/keg", (path) => files.has(path), hash);
  expect([pick("linux-arm64"), pick("linux-x64"), pick(undefined), pick("linux-arm64")]).toEqual([
    { path: "/opt/keg/keg-agent-linux-arm64", sha256: "sha-of-/opt/keg/keg-agent-linux-arm64" },
    { path: "/opt/keg/keg-agent", sha256: "sha-of-/opt/keg/keg-agent" },
    { path: "/opt/keg/keg-agent", sha256: "sha-of-/opt/keg/keg-agent" },
    { path: "/opt/keg/keg-agent-linux-arm64", sha256: "sha-of-/opt/keg/keg-agent-linux-arm64" },
  ]);
  expect(hashed).toEqual(["/opt/keg/keg-agent-linux-arm64", "/opt/keg/keg-agent"]); // each file once
  expect(agentPicker("/tmp/mine", "/opt/keg", (path) => files.has(path), hash)("linux-arm64").path).toBe("/tmp/mine");
  const none = agentPicker(undefined, "/opt/keg", () => false);
  expect(() => none("linux-x64")).toThrow("no keg-agent for linux-x64 next to keg (looked for /opt/keg/keg-agent-linux-x64 and /opt/keg/keg-agent); give one with --agent-binary PATH");
});

test("the config home on Windows is %APPDATA%\\keg unless KEG_HOME or XDG_CONFIG_HOME say otherwise", () => {
  expect(kegHome({ APPDATA: "C:\\Users\\a\\AppData\\Roaming" }, "win32")).toEndWith("keg");
  expect(kegHome({ APPDATA: "C:\\Users\\a\\AppData\\Roaming" }, "win32")).toStartWith("C:\\Users\\a\\AppData\\Roaming");
  expect(kegHome({ KEG_HOME: "/k", APPDATA: "x" }, "win32")).toBe("/k");
  expect(kegHome({ APPDATA: "x" }, "linux")).toEndWith("/.config/keg");
});

describe("POST /v1/update, in process: the query is checked before anything is taken or written", () => {
  test("a bad or missing sha256, and a bad force, are a 400 naming the field; the command lock stays free", async () => {
    const { inProcessAgent } = await import("./in-process-agent.ts");
    await using agent = await inProcessAgent();
    const cases: [string, string][] = [
      ["/v1/update?sha256=nothex", "Bad query: sha256 must be the binary's SHA-256 as 64 lowercase hex digits."],
      ["/v1/update", "Bad query: sha256 is missing; it must be the binary's SHA-256 as 64 lowercase hex digits."],
      [`/v1/update?sha256=${"a".repeat(64)}&force=yes`, "Bad query: force must be true or false."],
    ];
    for (const [path, message] of cases) {
      const response = await agent.call("POST", path, { body: "not a binary", headers: { "content-type": "application/octet-stream" } });
      expect({ path, status: response.status, body: await response.json() }).toEqual({ path, status: 400, body: { error: { code: "bad_request", message } } });
    }
    const status = (await (await agent.call("GET", "/v1/status")).json()) as { command_lock: unknown };
    expect(status.command_lock).toBeNull();
  });
});
