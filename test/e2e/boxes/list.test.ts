/** `boxes list` with an agent gone: offline within 3 s (docs/cli.md "boxes list"). */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import pkg from "../../../package.json" with { type: "json" };
import { startAgent } from "../../helpers/agent.ts";
import { addBox, timed, user } from "../../helpers/cli.ts";

const VERSION = pkg.version;

setDefaultTimeout(60_000);

// boxes list with an agent gone (offline within 3 s)
describe("boxes list with an agent gone", () => {
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
