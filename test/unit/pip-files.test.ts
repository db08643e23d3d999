/** src/client/pip-files.ts: which pip words are uploaded, and how they and requirements files are rewritten (docs/cli.md "keg pip"). */
import { describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { pipFiles } from "../../src/client/pip-files.ts";
import { KegError } from "../../src/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

const WHEEL = "x-0.1-py3-none-any.whl";

function project(files: Record<string, string>) {
  const dir = tempDir("keg-pip-files-", files);
  return Object.assign(dir, { real: realpathSync(dir.path) });
}

describe("pip's words", () => {
  test("a local wheel is uploaded under its own name and its argument points at the copy; other words stay", () => {
    using dir = project({ [`dist/${WHEEL}`]: "wheel" });
    const { args, uploads } = pipFiles(["install", "--no-index", `./dist/${WHEEL}`, "numpy==2.0", "-q"], dir.path);
    expect(args).toEqual(["install", "--no-index", `pip-files/1/${WHEEL}`, "numpy==2.0", "-q"]);
    expect(uploads).toEqual([{ zipPath: `pip-files/1/${WHEEL}`, source: `${dir.real}/dist/${WHEEL}` }]);
  });

  test("a bare name is a package even when a folder has that name; a missing path stays for pip to report", () => {
    using dir = project({ "requests/setup.py": "" });
    expect(pipFiles(["install", "requests", "./missing.whl", "gone.tar.gz"], dir.path)).toEqual({
      args: ["install", "requests", "./missing.whl", "gone.tar.gz"],
      uploads: [],
    });
  });

  test("a project directory ('.' too) is uploaded as a folder", () => {
    using dir = project({ "proj/pyproject.toml": "", "setup.py": "" });
    const { args, uploads } = pipFiles(["install", "./proj", "."], dir.path);
    expect(args).toEqual(["install", "pip-files/1/proj", `pip-files/2/${dir.real.split("/").pop()}`]);
    expect(uploads.map((u) => u.source)).toEqual([`${dir.real}/proj`, dir.real]);
  });

  test("values of options that name places on the box are never uploaded", () => {
    using dir = project({ "lib/x": "", "log.txt": "" });
    const words = ["install", "--target", "./lib", "--log=log.txt", "-t", "lib", "--report", "./log.txt", "pkg"];
    expect(pipFiles(words, dir.path)).toEqual({ args: words, uploads: [] });
  });

  test("-r, --requirement=, -rFILE, -c and -f keep their form; the same file is uploaded once", () => {
    using dir = project({ "req.txt": "pkg\n", "c.txt": "pkg<2\n", "wheels/a.whl": "" });
    const { args, uploads } = pipFiles(["install", "-r", "req.txt", "--requirement=req.txt", "-rreq.txt", "-c", "c.txt", "-f", "./wheels", "--find-links=wheels"], dir.path);
    expect(args).toEqual([
      "install",
      "-r",
      "pip-files/1/req.txt",
      "--requirement=pip-files/1/req.txt",
      "-rpip-files/1/req.txt",
      "-c",
      "pip-files/2/c.txt",
      "-f",
      "pip-files/3/wheels",
      "--find-links=pip-files/3/wheels",
    ]);
    expect(uploads).toEqual([
      { zipPath: "pip-files/1/req.txt", source: `${dir.real}/req.txt`, text: "pkg\n" },
      { zipPath: "pip-files/2/c.txt", source: `${dir.real}/c.txt`, text: "pkg<2\n" },
      { zipPath: "pip-files/3/wheels", source: `${dir.real}/wheels` },
    ]);
  });

  test("words after '--' and URLs are left alone", () => {
    using dir = project({ [WHEEL]: "" });
    expect(pipFiles(["install", "https://example.invalid/x.whl", "--", WHEEL], dir.path)).toEqual({
      args: ["install", "https://example.invalid/x.whl", "--", WHEEL],
      uploads: [],
    });
  });

  test("-e of a local path is refused with the fix: the uploaded copy goes away with its run folder", () => {
    using dir = project({ "proj/setup.py": "" });
    let error: unknown;
    try {
      pipFiles(["install", "-e", "./proj"], dir.path);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KegError);
    expect((error as KegError).message).toBe("'-e ./proj' would install the box's uploaded copy in place, which is deleted with its run folder. Install it without -e.");
    expect(pipFiles(["install", "-e", "git+https://example.invalid/x.git"], dir.path).uploads).toEqual([]);
  });
});

describe("requirements files", () => {
  test("requirements are read relative to the working directory, nested -r and -c relative to their file, comments and markers kept apart", () => {
    using dir = project({
      [`dist/${WHEEL}`]: "",
      "reqs/y.whl": "",
      "requirements.txt": `# lab\n./dist/${WHEEL} ; python_version >= "3"  # ours\nnumpy\n-r reqs/more.txt\n--constraint reqs/c.txt\n--no-index\n`,
      "reqs/more.txt": "reqs/y.whl\n-r ../requirements.txt\n",
      "reqs/c.txt": "numpy<3\n",
    });
    const { args, uploads } = pipFiles(["install", "-r", "requirements.txt"], dir.path);
    expect(args).toEqual(["install", "-r", "pip-files/1/requirements.txt"]);
    const byPath = Object.fromEntries(uploads.map((u) => [u.zipPath, u.text ?? u.source]));
    expect(byPath).toEqual({
      "pip-files/1/requirements.txt": `# lab\npip-files/2/${WHEEL} ; python_version >= "3"\nnumpy\n-r ../3/more.txt\n--constraint ../5/c.txt\n--no-index\n`,
      [`pip-files/2/${WHEEL}`]: `${dir.real}/dist/${WHEEL}`,
      // names itself back: uploaded once, no loop
      "pip-files/3/more.txt": "pip-files/4/y.whl\n-r ../1/requirements.txt\n",
      "pip-files/4/y.whl": `${dir.real}/reqs/y.whl`,
      "pip-files/5/c.txt": "numpy<3\n",
    });
  });

  test("a -f folder next to the requirements file is found there, else in the working directory", () => {
    using dir = project({ "reqs/req.txt": "-f wheels\n-f ./other\n", "reqs/wheels/a.whl": "", "other/b.whl": "" });
    const { uploads } = pipFiles(["install", "-r", "reqs/req.txt"], dir.path);
    expect(uploads.map((u) => [u.zipPath, u.text ?? u.source])).toEqual([
      ["pip-files/1/req.txt", "-f ../2/wheels\n-f ../3/other\n"],
      ["pip-files/2/wheels", `${dir.real}/reqs/wheels`],
      ["pip-files/3/other", `${dir.real}/other`],
    ]);
  });
});

describe("what a hostile requirements file cannot ship", () => {
  test("a local path that is neither a package archive nor a project folder is never uploaded, from the command line or a requirements file", () => {
    using dir = project({ "secret/id_rsa": "KEY", "notes": "n", "plain/file.py": "", "reqs.txt": "./secret/id_rsa\n./plain\nnotes\n" });
    const { args, uploads } = pipFiles(["install", "./secret/id_rsa", "./plain", "-r", "reqs.txt"], dir.path);
    expect(args).toEqual(["install", "./secret/id_rsa", "./plain", "-r", "pip-files/1/reqs.txt"]);
    expect(uploads.map((u) => ({ zipPath: u.zipPath, text: u.text }))).toEqual([{ zipPath: "pip-files/1/reqs.txt", text: "./secret/id_rsa\n./plain\nnotes\n" }]);
  });

  test("a -r or -c inside a requirements file is read only when it is named like one (.txt, .in)", () => {
    using dir = project({ "shadow": "root:x", "more.txt": "", "reqs.txt": "-r shadow\n-c more.txt\n" });
    const { uploads } = pipFiles(["install", "-r", "reqs.txt"], dir.path);
    expect(uploads.map((u) => u.zipPath)).toEqual(["pip-files/1/reqs.txt", "pip-files/2/more.txt"]);
    expect(uploads[0]!.text).toBe("-r shadow\n-c ../2/more.txt\n");
  });
});
