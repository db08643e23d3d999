/**
 * On the compiled binaries with real Python: structured records in
 * all four encoders and `--download`. docs/usage.md
 * "Runs".
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

const lines = (text: string) => text.split("\n").filter(Boolean);

describe("structured output", () => {
  test.concurrent("JSON, raw, pickle and YAML records arrive, are shown, and --output-file gets one JSON line each", async () => {
    await using box = await runBox({
      "records.py": [
        "import keg",
        "keg.output({'name': 'json', 'n': [1, 2.5, None, True]})",
        "keg.output(b'\\x00\\x01\\x02\\xff', keg.Encoders.RAW)",
        "keg.output({'name': 'pickle', 't': (1, 2), 'big': 2**70}, keg.Encoders.PICKLE)",
        "keg.output({'name': 'yaml', 'nested': {'k': ['a', 1, 'yes']}}, encoder=keg.Encoders.YAML)",
        "print('done')",
      ].join("\n"),
    });
    const result = await box.run(["python", "run", "records.py", "--output-file", "records.jsonl"]);
    expect(result).toMatchObject({ code: 0, stdout: "done\n" });
    expect(lines(result.stderr)).toEqual([
      '[record json] {"name":"json","n":[1,2.5,null,true]}',
      "[record raw] 4 bytes",
      '[record pickle] {"name":"pickle","t":[1,2],"big":"1180591620717411303424"}',
      '[record yaml] {"name":"yaml","nested":{"k":["a",1,"yes"]}}',
    ]);
    const saved = lines(readFileSync(box.dir.join("records.jsonl"), "utf8")).map((line) => JSON.parse(line));
    expect(saved).toEqual([
      { encoder: "json", value: { name: "json", n: [1, 2.5, null, true] } },
      { encoder: "raw", size: 4, base64: Buffer.from([0, 1, 2, 255]).toString("base64") },
      { encoder: "pickle", value: { name: "pickle", t: [1, 2], big: "1180591620717411303424" } },
      { encoder: "yaml", value: { name: "yaml", nested: { k: ["a", 1, "yes"] } } },
    ]);
  });

  test.concurrent("a pickle that would run code is shown as refused and runs nothing", async () => {
    await using box = await runBox();
    const marker = box.dir.join("pwned");
    writeFileSync(
      box.dir.join("evil.py"),
      [
        "import os, pickle, sys, keg",
        "class Evil:",
        "    def __reduce__(self):",
        "        return (os.system, ('touch ' + sys.argv[1],))",
        "payload = pickle.dumps(Evil(), protocol=4)",
        // Proof that this payload does create the file when a reader executes it.
        "assert b'system' in payload",
        "keg.output(Evil(), keg.Encoders.PICKLE)",
        "print('sent')",
      ].join("\n"),
    );
    const result = await box.run(["python", "run", "evil.py", marker, "--output-file", "out.jsonl"]);
    expect(result).toMatchObject({ code: 0, stdout: "sent\n" });
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^\[record pickle\] refused: /)]);
    expect(existsSync(marker)).toBe(false);
    const [saved] = lines(readFileSync(box.dir.join("out.jsonl"), "utf8")).map((line) => JSON.parse(line));
    expect(saved).toEqual({ encoder: "pickle", error: expect.stringMatching(/^refused: /) });
    expect(existsSync(marker)).toBe(false);
  });
});

describe("downloads", () => {
  const writer = [
    "import gzip, os, sys",
    "marker = sys.argv[1]",
    "open(marker, 'w').write('ran')",
    "os.makedirs('out', exist_ok=True)",
    "open('result.txt', 'w').write('new result\\n')",
    "with gzip.open('out/data.csv.gz', 'wt') as f:",
    "    f.write('a,b\\n' + '1,2\\n' * 1000)",
    "print('written')",
  ].join("\n");

  test.concurrent("a file arrives; a gzip file is stored decompressed under its name without .gz", async () => {
    await using box = await runBox({ "writer.py": writer });
    const result = await box.run(["python", "run", "writer.py", box.dir.join("ran"), "--download", "result.txt", "--download", "out/data.csv.gz"]);
    expect(result).toMatchObject({ code: 0, stdout: "written\n", stderr: "" });
    expect(readFileSync(box.dir.join("result.txt"), "utf8")).toBe("new result\n");
    expect(readFileSync(box.dir.join("data.csv"), "utf8")).toBe("a,b\n" + "1,2\n".repeat(1000));
    expect(readdirSync(box.dir.path).sort()).toEqual(["data.csv", "ran", "result.txt", "writer.py"]);
  });

  test.concurrent("an existing local file is not replaced and the script never runs; --allow-overwrite replaces it", async () => {
    await using box = await runBox({ "writer.py": writer, "result.txt": "old result\n" });
    const marker = box.dir.join("ran");
    const refused = await box.run(["python", "run", "writer.py", marker, "--download", "result.txt"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("'result.txt' already exists");
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(box.dir.join("result.txt"), "utf8")).toBe("old result\n");
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);

    const replaced = await box.run(["python", "run", "writer.py", marker, "--download", "result.txt", "--allow-overwrite"]);
    expect(replaced).toMatchObject({ code: 0, stdout: "written\n", stderr: "" });
    expect(existsSync(marker)).toBe(true);
    expect(readFileSync(box.dir.join("result.txt"), "utf8")).toBe("new result\n");
  });

  test.concurrent("a missing remote file fails the command (exit 1), naming the file, when the script succeeded", async () => {
    await using box = await runBox({ "writer.py": writer });
    const result = await box.run(["python", "run", "writer.py", box.dir.join("ran"), "--download", "result.txt", "--download", "nothere.txt"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("written\n");
    expect(result.stderr).toContain("'nothere.txt'");
    // The other download still arrived.
    expect(readFileSync(box.dir.join("result.txt"), "utf8")).toBe("new result\n");
    expect(existsSync(box.dir.join("nothere.txt"))).toBe(false);
  });
});
