/** src/config/boxes.ts: the CLI's box registry (docs/cli.md, docs/usage.md "Configuration"). */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readBoxes, resolveBox, updateBoxes, type Box } from "../../src/config/boxes.ts";
import { KegError } from "../../src/errors.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { thrownKegError } from "../helpers/errors.ts";

let dir: TempDir;
let home: string;
let savedHome: string | undefined;

// kegHome() reads process.env on every call, so a temp KEG_HOME per test is
// enough; the original value is put back afterwards.
beforeEach(() => {
  dir = tempDir("keg-boxes-");
  home = dir.join("home");
  savedHome = process.env.KEG_HOME;
  process.env.KEG_HOME = home;
});

afterEach(() => {
  if (savedHome === undefined) delete process.env.KEG_HOME;
  else process.env.KEG_HOME = savedHome;
  dir[Symbol.dispose]();
});

const box = (name: string, extra: Partial<Box> = {}): Box => ({ name, address: `http://${name}:7350`, token: `tok-${name}`, ...extra });
const boxesJson = () => join(home, "boxes.json");

describe("readBoxes / updateBoxes", () => {
  test("no file yet reads as no boxes and creates nothing", () => {
    expect(readBoxes()).toEqual([]);
    expect(existsSync(home)).toBe(false);
  });

  test("the first update creates the home and a 0600 boxes.json; the lock and temp files are gone after", async () => {
    await updateBoxes((boxes) => [...boxes, box("a", { user: "alice", version: "0.1.0" })]);
    expect(readBoxes()).toEqual([box("a", { user: "alice", version: "0.1.0" })]);
    expect(statSync(boxesJson()).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(readdirSync(home)).toEqual(["boxes.json"]);
    expect(JSON.parse(readFileSync(boxesJson(), "utf8"))).toEqual({ boxes: [box("a", { user: "alice", version: "0.1.0" })] });
  });

  test("updates build on each other", async () => {
    await updateBoxes((boxes) => [...boxes, box("a")]);
    await updateBoxes((boxes) => [...boxes, box("b")]);
    await updateBoxes((boxes) => boxes.filter((b) => b.name !== "a"));
    expect(readBoxes()).toEqual([box("b")]);
  });

  test("a change that throws leaves the file untouched and releases the lock", async () => {
    await updateBoxes(() => [box("a")]);
    const before = readFileSync(boxesJson(), "utf8");
    const refusal = new KegError("failed", "Box 'a' already exists.");
    await expect(
      updateBoxes(() => {
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(readFileSync(boxesJson(), "utf8")).toBe(before);
    expect(readdirSync(home)).toEqual(["boxes.json"]);
    // The lock was released: the next update goes through.
    await updateBoxes((boxes) => [...boxes, box("b")]);
    expect(readBoxes().map((b) => b.name)).toEqual(["a", "b"]);
  });

  test("20 overlapping updates in one process lose nothing", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `box-${i}`);
    await Promise.all(
      names.map(async (name) => {
        await Promise.resolve();
        await updateBoxes((boxes) => [...boxes, box(name)]);
      }),
    );
    expect(readBoxes().map((b) => b.name).sort()).toEqual([...names].sort());
    expect(readdirSync(home)).toEqual(["boxes.json"]);
  });

  test("a lock file left by a dead process is taken over", async () => {
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    await updateBoxes(() => [box("a")]);
    writeFileSync(`${boxesJson()}.lock`, String(dead.pid));
    const started = performance.now();
    await updateBoxes((boxes) => [...boxes, box("b")]);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(readBoxes().map((b) => b.name)).toEqual(["a", "b"]);
    expect(existsSync(`${boxesJson()}.lock`)).toBe(false);
  });

  test("a torn or hand-broken boxes.json is an error naming the file, not an empty list", async () => {
    await updateBoxes(() => [box("a")]);
    writeFileSync(boxesJson(), '{"boxes": [');
    const error = thrownKegError(() => readBoxes());
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: "failed", exitCode: 1 });
    expect(error.message).toContain(boxesJson());
  });
});

describe("resolveBox", () => {
  test("--box NAME picks the registered box", async () => {
    await updateBoxes(() => [box("a"), box("b")]);
    expect(resolveBox("b", {})).toEqual(box("b"));
  });

  test("KEG_BOX is used when --box is not given; --box wins over it", async () => {
    await updateBoxes(() => [box("a"), box("b")]);
    expect(resolveBox(undefined, { KEG_BOX: "a" })).toEqual(box("a"));
    expect(resolveBox("b", { KEG_BOX: "a" })).toEqual(box("b"));
  });

  test("an unknown name is exit 1 listing the known names", async () => {
    await updateBoxes(() => [box("alpha"), box("beta")]);
    const error = thrownKegError(() => resolveBox("nope", {}));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: "not_found", exitCode: 1 });
    expect(error.message).toBe("Unknown box 'nope'. Known boxes: alpha, beta.");
  });

  test("an unknown name with no boxes at all says how to add one", () => {
    const error = thrownKegError(() => resolveBox("nope", {}));
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain("Unknown box 'nope'");
    expect(error.message).toContain("keg boxes add");
  });

  test("--box http://HOST:PORT with KEG_TOKEN needs no boxes.json at all (CI)", () => {
    expect(resolveBox("http://127.0.0.1:7350/", { KEG_TOKEN: "secret" })).toEqual({
      name: "http://127.0.0.1:7350/",
      address: "http://127.0.0.1:7350",
      token: "secret",
    });
    expect(resolveBox(undefined, { KEG_BOX: "http://lab:7350", KEG_TOKEN: "t" }).address).toBe("http://lab:7350");
    expect(existsSync(home)).toBe(false);
  });

  test("an address without KEG_TOKEN, or no box at all, is a usage error saying what to set", () => {
    const noToken = thrownKegError(() => resolveBox("http://127.0.0.1:7350", {}));
    expect({ code: noToken.code, exitCode: noToken.exitCode }).toEqual({ code: "usage", exitCode: 2 });
    expect(noToken.message).toContain("KEG_TOKEN");
    const none = thrownKegError(() => resolveBox(undefined, {}));
    expect(none.exitCode).toBe(2);
    expect(none.message).toContain("KEG_BOX");
  });
});
