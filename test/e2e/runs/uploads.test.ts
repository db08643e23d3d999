/**
 * On the compiled agent: hand-made hostile zips POSTed
 * straight to /v1/runs are refused with a 400 and write nothing outside the
 * run folder (none is left behind either); an upload over `--max-upload`
 * gets a clear error naming the limit. docs/usage.md "Runs".
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { strToU8, zipSync, type Zippable } from "fflate";
import { encodeRunBody, type RunSpec } from "../../../src/wire/api.ts";
import { runBox, type RunBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

const spec: RunSpec = { command: "python", entry: "job.py", args: [], env: {}, timeout: 0, box: "lab", downloads: [], detach: false, force: false };

const postRun = (box: RunBox, zip: Uint8Array) =>
  fetch(`${box.agent.url}/v1/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${box.user.token}`, "content-type": "application/octet-stream" },
    body: encodeRunBody(spec, zip) as Uint8Array<ArrayBuffer>,
  });

/** Every path under `dir` (links not followed). */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(entry.parentPath, entry.name);
    return entry.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

describe("hostile uploads", () => {
  test.concurrent("'..', absolute and symlink entries: 400, nothing written outside, no run folder left", async () => {
    await using box = await runBox();
    const tag = crypto.randomUUID();
    const outside = dirname(box.agent.stateDir);
    const job = strToU8("open('ran', 'w').close()\n");
    const hostile: Record<string, Zippable> = {
      // From <state>/runs/<id>/work, four levels up is the state dir's parent.
      "dot-dot": { "job.py": job, [`../escape-${tag}`]: strToU8("x"), [`../../../../escape-${tag}`]: strToU8("x") },
      absolute: { "job.py": job, [`/tmp/keg-abs-${tag}/x`]: strToU8("x") },
      symlink: { "job.py": job, [`link-${tag}`]: [strToU8(outside), { os: 3, attrs: 0o120777 << 16 }] },
      "symlink then through it": { [`link-${tag}`]: [strToU8(outside), { os: 3, attrs: 0o120777 << 16 }], [`link-${tag}/escape-${tag}`]: strToU8("x"), "job.py": job },
    };
    for (const [what, files] of Object.entries(hostile)) {
      const response = await postRun(box, zipSync(files));
      const body = await response.json();
      expect({ what, status: response.status, body }).toEqual({
        what,
        status: 400,
        body: { error: { code: "bad_request", message: expect.stringMatching(/^Upload refused: entry '.*' .*\. Nothing was unpacked\.$/) } },
      });
    }
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
    expect(walk(box.agent.stateDir).filter((path) => path.includes(tag) || path.endsWith("/ran"))).toEqual([]);
    expect(readdirSync(outside).filter((name) => name.includes(tag))).toEqual([]);
    expect(existsSync(`/tmp/keg-abs-${tag}`)).toBe(false);

    // The refused uploads released the command lock: a proper run goes ahead.
    await Bun.write(box.dir.join("job.py"), "print('fine')\n");
    const ok = await box.run(["python", "run", "job.py"]);
    expect(ok).toMatchObject({ code: 0, stdout: "fine\n" });
  });

  test.concurrent("an upload over --max-upload: keg exits 1 with an error naming the limit", async () => {
    await using box = await runBox({ "job.py": "print('should not run')\n" }, { args: ["--max-upload", "1"] });
    writeFileSync(box.dir.join("big.bin"), randomBytes(2 * 1024 * 1024));
    const result = await box.run(["python", "run", "job.py", "--add-file", "big.bin"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("1 MiB");
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);

    // Straight to the API: 413 with the same sentence.
    const response = await postRun(box, zipSync({ "job.py": strToU8("print(1)\n"), "big.bin": [randomBytes(2 * 1024 * 1024), { level: 0 }] }));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: { code: "too_large", message: expect.stringContaining("1 MiB") } });

    // Under the limit the same box runs it.
    writeFileSync(box.dir.join("small.bin"), randomBytes(1024));
    const ok = await box.run(["python", "run", "job.py", "--add-file", "small.bin"]);
    expect(ok).toMatchObject({ code: 0, stdout: "should not run\n" });
  });
});
