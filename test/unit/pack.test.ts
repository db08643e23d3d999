/** src/client/pack.ts: the upload zip's layout, includes and links (docs/usage.md "Runs"). */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { strFromU8, unzipSync } from "fflate";
import { packUpload, type PackInput } from "../../src/client/pack.ts";
import { KegError } from "../../src/errors.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";

let dir: TempDir;
beforeEach(() => {
  dir = tempDir("keg-pack-");
});
afterEach(() => dir[Symbol.dispose]());

function write(files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(dir.join(name)), { recursive: true });
    writeFileSync(dir.join(name), content);
  }
}

/** The zip's files as name -> text; folder entries are left out. */
async function pack(input: PackInput) {
  const result = await packUpload(input);
  const files: Record<string, string> = {};
  for (const [name, data] of Object.entries(unzipSync(result.zip))) if (!name.endsWith("/")) files[name] = strFromU8(data);
  return { ...result, files };
}

async function packError(input: PackInput): Promise<KegError> {
  const error = await packUpload(input).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KegError);
  expect((error as KegError).code).toBe("failed");
  expect((error as KegError).exitCode).toBe(1);
  return error as KegError;
}

describe("layout", () => {
  test("a .py file goes in by its basename", async () => {
    write({ "src/job.py": "print(1)\n" });
    const { files, entry, bytes, warnings } = await pack({ runnable: dir.join("src/job.py"), addFiles: [] });
    expect({ files, entry, bytes, warnings }).toEqual({ files: { "job.py": "print(1)\n" }, entry: "job.py", bytes: 9, warnings: [] });
  });

  test("a directory's content lands at the root, without caches and .git", async () => {
    write({
      "proj/main.py": "m",
      "proj/lib/util.py": "u",
      "proj/lib/__pycache__/util.cpython-311.pyc": "x",
      "proj/old.pyc": "x",
      "proj/.git/HEAD": "x",
    });
    mkdirSync(dir.join("proj/empty"));
    const result = await pack({ runnable: dir.join("proj"), addFiles: [] });
    expect(result.entry).toBe("main.py");
    expect(result.files).toEqual({ "main.py": "m", "lib/util.py": "u" });
    expect(Object.keys(unzipSync(result.zip)).sort()).toEqual(["empty/", "lib/", "lib/util.py", "main.py"]);
  });

  test("add-files go in by basename next to the script", async () => {
    write({ "job.py": "j", "data/input.csv": "1,2", "other/cfg.txt": "c" });
    const result = await pack({ runnable: dir.join("job.py"), addFiles: [dir.join("data/input.csv"), dir.join("other/cfg.txt")] });
    expect(result.files).toEqual({ "job.py": "j", "input.csv": "1,2", "cfg.txt": "c" });
  });

  test("without a runnable (exec) only the add-files are packed", async () => {
    write({ "a.txt": "a", ".keg.json": "not json" });
    const result = await pack({ addFiles: [dir.join("a.txt")] });
    expect({ files: result.files, entry: result.entry }).toEqual({ files: { "a.txt": "a" }, entry: "" });
  });

  test("an add-file named like the script is a clash", async () => {
    write({ "job.py": "j", "other/job.py": "o" });
    const error = await packError({ runnable: dir.join("job.py"), addFiles: [dir.join("other/job.py")] });
    expect(error.message).toContain("'job.py'");
  });

  test("an add-file named like a folder of the directory runnable is a clash", async () => {
    write({ "proj/main.py": "m", "proj/lib/a.py": "a", "lib": "file" });
    const error = await packError({ runnable: dir.join("proj"), addFiles: [dir.join("lib")] });
    expect(error.message).toContain("'lib'");
  });
});

describe("refusals before anything is read", () => {
  test("a missing runnable", async () => {
    const error = await packError({ runnable: dir.join("nope.py"), addFiles: [] });
    expect(error.message).toBe(`Runnable '${dir.join("nope.py")}' not found. Check the path.`);
  });

  test("a directory without main.py", async () => {
    write({ "proj/other.py": "" });
    const error = await packError({ runnable: dir.join("proj"), addFiles: [] });
    expect(error.message).toBe(`Directory '${dir.join("proj")}' has no main.py. Add one, or pass a .py file.`);
  });

  test("a runnable that is not a .py file", async () => {
    write({ "job.sh": "" });
    const error = await packError({ runnable: dir.join("job.sh"), addFiles: [] });
    expect(error.message).toContain("neither a .py file nor a directory");
  });

  test("a missing add-file", async () => {
    write({ "job.py": "" });
    const error = await packError({ runnable: dir.join("job.py"), addFiles: [dir.join("gone.csv")] });
    expect(error.message).toBe(`--add-file '${dir.join("gone.csv")}' not found. Check the path.`);
  });
});

describe(".keg.json includes", () => {
  test("found upward from the script's folder and packed under DEST", async () => {
    write({
      ".keg.json": JSON.stringify({ includes: { common: "shared", "vendor/x": "third/x" } }),
      "shared/helpers.py": "h",
      "shared/sub/deep.py": "d",
      "third/x/x.py": "x",
      "a/b/job.py": "j",
    });
    const result = await pack({ runnable: dir.join("a/b/job.py"), addFiles: [] });
    expect(result.files).toEqual({ "job.py": "j", "common/helpers.py": "h", "common/sub/deep.py": "d", "vendor/x/x.py": "x" });
  });

  test("the nearest .keg.json wins", async () => {
    write({
      ".keg.json": JSON.stringify({ includes: { far: "far" } }),
      "far/f.py": "f",
      "proj/.keg.json": JSON.stringify({ includes: { near: "../near" } }),
      "near/n.py": "n",
      "proj/main.py": "m",
    });
    const result = await pack({ runnable: dir.join("proj"), addFiles: [] });
    expect(result.files).toEqual({ "main.py": "m", ".keg.json": JSON.stringify({ includes: { near: "../near" } }), "near/n.py": "n" });
  });

  test("a missing SRC_DIR is a warning", async () => {
    write({ ".keg.json": JSON.stringify({ includes: { lib: "missing" } }), "job.py": "j" });
    const result = await pack({ runnable: dir.join("job.py"), addFiles: [] });
    expect(result.warnings).toEqual(["Include 'lib': missing not found, skipped."]);
    expect(result.files).toEqual({ "job.py": "j" });
  });

  for (const dest of ["..", "../up", "a/../../b", "a\\..\\b", "/abs", "\\abs", "C:\\x", "", "./"]) {
    test(`DEST ${JSON.stringify(dest)} is refused`, async () => {
      write({ ".keg.json": JSON.stringify({ includes: { [dest]: "lib" } }), "lib/l.py": "l", "job.py": "j" });
      const error = await packError({ runnable: dir.join("job.py"), addFiles: [] });
      expect(error.message).toContain(`Include '${dest}'`);
    });
  }

  test("invalid JSON names the file", async () => {
    write({ ".keg.json": "{ includes: ", "job.py": "j" });
    const error = await packError({ runnable: dir.join("job.py"), addFiles: [] });
    expect(error.message).toStartWith(`${dir.join(".keg.json")} is not valid JSON (`);
  });

  test("includes that are not a map of strings are refused", async () => {
    write({ ".keg.json": JSON.stringify({ includes: ["lib"] }), "job.py": "j" });
    const error = await packError({ runnable: dir.join("job.py"), addFiles: [] });
    expect(error.message).toContain(`"includes" must map folder names`);
  });
});

describe("links", () => {
  test("a link to a file inside the project is shipped as the file's content", async () => {
    write({ "proj/real/data.txt": "payload", "proj/main.py": "m" });
    symlinkSync(dir.join("proj/real/data.txt"), dir.join("proj/data.txt"));
    const result = await pack({ runnable: dir.join("proj"), addFiles: [] });
    expect(result.files).toEqual({ "main.py": "m", "data.txt": "payload", "real/data.txt": "payload" });
  });

  test("a link out of the project (to /etc, to ~/.ssh) is skipped with a warning naming it, never followed", async () => {
    write({ "secret/id_rsa": "KEY", "proj/main.py": "m" });
    symlinkSync(dir.join("secret"), dir.join("proj/keys"));
    symlinkSync(dir.join("secret/id_rsa"), dir.join("proj/key"));
    symlinkSync("/etc", dir.join("proj/etc"));
    const result = await pack({ runnable: dir.join("proj"), addFiles: [] });
    expect(result.files).toEqual({ "main.py": "m" });
    expect(result.warnings.sort()).toEqual(
      ["etc", "key", "keys"].map((name) => `Skipped ${dir.join("proj", name)}: a link out of ${realpathSync(dir.join("proj"))}. Name what it links to in .keg.json "includes" to upload it.`),
    );
  });

  test("a linked script and a linked add-file are shipped as content", async () => {
    write({ "real/job.py": "j", "real/in.csv": "c" });
    symlinkSync(dir.join("real/job.py"), dir.join("run.py"));
    symlinkSync(dir.join("real/in.csv"), dir.join("link.csv"));
    const result = await pack({ runnable: dir.join("run.py"), addFiles: [dir.join("link.csv")] });
    expect(result.files).toEqual({ "run.py": "j", "link.csv": "c" });
  });

  test("a linked folder inside the project is followed; a loop and a dangling link are skipped with warnings", async () => {
    write({ "proj/lib/shared/s.py": "s", "proj/main.py": "m" });
    symlinkSync(dir.join("proj/lib/shared"), dir.join("proj/shared"));
    symlinkSync(dir.join("proj"), dir.join("proj/loop"));
    symlinkSync(dir.join("nowhere"), dir.join("proj/dangling"));
    const result = await pack({ runnable: dir.join("proj"), addFiles: [] });
    expect(result.files).toEqual({ "main.py": "m", "shared/s.py": "s", "lib/shared/s.py": "s" });
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings.join("\n")).toContain(`Skipped ${dir.join("proj/dangling")}: a link to nothing.`);
    expect(result.warnings.join("\n")).toContain(`Skipped ${dir.join("proj/loop")}: a link that loops back`);
  });

  test("the zip holds no link entries", async () => {
    write({ "proj/real/data.txt": "payload", "proj/main.py": "m" });
    symlinkSync(dir.join("proj/real/data.txt"), dir.join("proj/data.txt"));
    const { zip } = await packUpload({ runnable: dir.join("proj"), addFiles: [] });
    // Central directory records: external attributes at offset 38.
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    const types: number[] = [];
    for (let i = 0; i + 46 <= zip.length; i++) {
      if (view.getUint32(i, true) === 0x02014b50) types.push((view.getUint32(i + 38, true) >>> 16) & 0o170000);
    }
    expect(types.sort()).toEqual([0o040000, 0o100000, 0o100000, 0o100000]);
  });
});
