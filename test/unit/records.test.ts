/** The structured-output channel end to end: the real `keg` Python module writes records on fd 3, records.ts decodes them. */
import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRecord, Encoder, formatRecord, recordJsonLine, type DecodedRecord } from "../../src/client/records.ts";

const modulePath = join(import.meta.dir, "..", "..", "src", "agent", "python");
let python = "python3";

beforeAll(async () => {
  // python3 on PATH may be a slow pyenv shim: resolve the real interpreter once.
  const proc = Bun.spawn(["python3", "-c", "import sys;print(sys.executable)"], { stdout: "pipe", stderr: "ignore" });
  python = (await new Response(proc.stdout).text()).trim() || "python3";
});

type RawRecord = { encoder: number; payload: Uint8Array };

/** Splits a channel's bytes on the 5-byte headers (encoder, big-endian length). */
function splitRecords(bytes: Uint8Array): RawRecord[] {
  const records: RawRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 5) throw new Error(`partial header at ${pos}`);
    const length = view.getUint32(pos + 1, false);
    if (bytes.length - pos - 5 < length) throw new Error(`partial payload at ${pos}`);
    records.push({ encoder: bytes[pos]!, payload: bytes.subarray(pos + 5, pos + 5 + length) });
    pos += 5 + length;
  }
  return records;
}

/** Runs a Python script with `import keg` available and the channel on fd 3, as the agent will. */
async function runPython(script: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn([python, "-c", "import keg, os, sys\n" + script], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    env: { ...process.env, PYTHONPATH: modulePath, KEG_OUTPUT_CHANNEL: "3", ...env },
  });
  const fd = proc.stdio[3] as number;
  try {
    const [channel, stdout, stderr, exitCode] = await Promise.all([
      new Response(Bun.file(fd).stream()).bytes(),
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { records: splitRecords(channel), stdout, stderr, exitCode };
  } finally {
    closeSync(fd);
  }
}

async function emitted(script: string, env?: Record<string, string>): Promise<DecodedRecord[]> {
  const run = await runPython(script, env);
  expect(run.stderr).toBe("");
  expect(run.exitCode).toBe(0);
  return Promise.all(run.records.map((r) => decodeRecord(r.encoder, r.payload)));
}

const nestedPython = `{
  "text": "héllo wörld 😀 ✓ \\u2028 日本",
  "big": 2**80, "neg": -2**70, "small": 42, "max_safe": 2**53 - 1, "just_past": 2**53 + 1,
  "float": 3.25, "tiny": 1e-300, "huge": 1e300, "negzero": -0.0,
  "none": None, "yes": True, "no": False,
  "nested": {"list": [1, [2, [3, {"deep": "x"}]]], "empty_list": [], "empty_dict": {}, "tuple": (1, "two")},
}`;

const nestedValue = {
  text: "héllo wörld 😀 ✓ \u2028 日本",
  big: 2n ** 80n,
  neg: -(2n ** 70n),
  small: 42,
  max_safe: Number.MAX_SAFE_INTEGER,
  just_past: 2n ** 53n + 1n,
  float: 3.25,
  tiny: 1e-300,
  huge: 1e300,
  negzero: -0,
  none: null,
  yes: true,
  no: false,
  nested: { list: [1, [2, [3, { deep: "x" }]]], empty_list: [], empty_dict: {}, tuple: [1, "two"] },
};

describe("round trip through keg.output", () => {
  test.concurrent("JSON, YAML and pickle give back the same nested plain data", async () => {
    const records = await emitted(`
data = ${nestedPython}
keg.output(data)
keg.output(data, keg.Encoders.JSON)
keg.output(data, keg.Encoders.YAML)
keg.output(data, keg.Encoders.PICKLE)
`);
    expect(records.map((r) => [r.encoder, r.error])).toEqual([
      ["json", undefined],
      ["json", undefined],
      ["yaml", undefined],
      ["pickle", undefined],
    ]);
    for (const r of records) expect(r.value).toEqual(nestedValue);
  });

  test.concurrent("pickle keeps bytes, bytearray, sets, non-finite floats and non-str keys", async () => {
    const [r] = await emitted(`
keg.output({
  "bytes": b"\\x00\\xff abc", "bytearray": bytearray(b"xy"), "set": {1, 2}, "frozen": frozenset(["a"]),
  "floats": [float("inf"), float("-inf"), float("nan")], "keys": {1: "one", None: "none", (1, 2): "pair"},
  "__proto__": "just a key",
}, keg.Encoders.PICKLE)
`);
    expect(r!.error).toBeUndefined();
    expect(r!.value).toEqual({
      bytes: new Uint8Array([0, 255, 32, 97, 98, 99]),
      bytearray: new Uint8Array([120, 121]),
      set: new Set([1, 2]),
      frozen: new Set(["a"]),
      floats: [Infinity, -Infinity, NaN],
      keys: { "1": "one", null: "none", "[1,2]": "pair" },
      ["__proto__"]: "just a key",
    });
    expect(Object.keys(r!.value as object)).toContain("__proto__");
    expect(JSON.parse(recordJsonLine(r!)).value).toMatchObject({
      bytes: { $bytes: "AP8gYWJj" },
      set: [1, 2],
      floats: ["Infinity", "-Infinity", "NaN"],
    });
  });

  test.concurrent("YAML and JSON carry NaN and ±Infinity", async () => {
    const records = await emitted(`
v = [float("nan"), float("inf"), -float("inf"), "NaN", "Infinity", 'say "NaN"']
keg.output(v)
keg.output(v, keg.Encoders.YAML)
`);
    for (const r of records) {
      expect(r.error).toBeUndefined();
      expect(r.value).toEqual([NaN, Infinity, -Infinity, "NaN", "Infinity", 'say "NaN"']);
    }
    expect(formatRecord(records[0]!)).toBe('[record json] ["NaN","Infinity","-Infinity","NaN","Infinity","say \\"NaN\\""]');
  });

  test.concurrent("raw records carry bytes and str as UTF-8", async () => {
    const records = await emitted(`
keg.output(bytes(range(256)), keg.Encoders.RAW)
keg.output("é", keg.Encoders.RAW)
keg.output(memoryview(b"mv"), keg.Encoders.RAW)
`);
    expect(records.map((r) => [r.encoder, r.size, r.value])).toEqual([
      ["raw", 256, undefined],
      ["raw", 2, undefined],
      ["raw", 2, undefined],
    ]);
    expect(records[0]!.raw).toEqual(Uint8Array.from({ length: 256 }, (_, i) => i));
    expect(formatRecord(records[0]!)).toBe("[record raw] 256 bytes");
    expect(JSON.parse(recordJsonLine(records[1]!))).toEqual({ encoder: "raw", size: 2, base64: "w6k=" });
  });
});

// Strings a naive emitter would turn into numbers, bools, null, keys, comments or mangled whitespace.
const trickyStrings = [
  "123", "-7", "1.5", "1e3", ".5", "0x1F", "0o17", "1_000", "+1", ".inf", "-.inf", ".nan", "NaN", "inf",
  "true", "False", "TRUE", "yes", "No", "on", "off", "y", "n", "null", "Null", "~", "",
  " lead", "trail ", "  ", "a: b", "key:", ":", "a:b", "- item", "-", "--", "---", "...", "# comment", "a #b", "a#b",
  "multi\nline\n", "\n", "tab\there", "cr\rlf", 'quote"s', "back\\slash", "'single'", "[x]", "{y}", "&anchor",
  "*alias", "!tag", "%dir", "@at", "`tick", "|", ">", "?", ",", "<<", "=", "\u0000nul", "\u007f", "\u0085nel",
  "\u2028", "\u2029", "\ufeffbom", "\ud800lone", "é", "😀", "日本語", "plain words ok", "path/to-file.txt",
];

test.concurrent("YAML strings that look like other things survive the round trip, as values and as keys", async () => {
  const keyed = Object.fromEntries(trickyStrings.map((s, i) => [s, i]));
  const longKey = "k".repeat(1500);
  const sent = { list: trickyStrings, keyed, [longKey]: [1, { nested: longKey }], listOfLong: [{ [longKey]: true }] };
  const records = await emitted(
    `
import json
data = json.loads(os.environ["KEG_TEST_DATA"])
keg.output(data, keg.Encoders.YAML)
keg.output(data, keg.Encoders.JSON)
`,
    { KEG_TEST_DATA: JSON.stringify(sent) },
  );
  for (const r of records) {
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual(sent);
  }
});

test.concurrent("a pickle that would run code is refused and nothing runs", async () => {
  const marker = join(tmpdir(), `keg-pickle-${process.pid}-${Date.now()}`);
  rmSync(marker, { force: true });
  const [r] = await emitted(`
class E:
    def __reduce__(self):
        return (os.system, ("touch ${marker}",))
keg.output({"ok": [E()]}, keg.Encoders.PICKLE)
`);
  expect(r!.encoder).toBe("pickle");
  expect(r!.value).toBeUndefined();
  expect(r!.error).toMatch(/^refused: pickle uses STACK_GLOBAL \(would import (posix|os)\.system\)/);
  expect(r!.error).toContain("executed nothing");
  expect(formatRecord(r!)).toBe(`[record pickle] ${r!.error}`);
  expect(JSON.parse(recordJsonLine(r!))).toEqual({ encoder: "pickle", error: r!.error });
  expect(existsSync(marker)).toBe(false);
});

describe("bad payloads give an error, never a throw", () => {
  test.concurrent("every truncation of real records", async () => {
    const run = await runPython(`
data = ${nestedPython}
for e in (keg.Encoders.JSON, keg.Encoders.YAML, keg.Encoders.PICKLE):
    keg.output(data, e)
`);
    expect(run.records.length).toBe(3);
    for (const { encoder, payload } of run.records) {
      for (let n = 0; n < payload.length; n++) {
        const r = await decodeRecord(encoder, payload.subarray(0, n));
        // A cut YAML document can still be valid YAML; the others must fail.
        if (encoder !== Encoder.YAML) expect(r.error).toMatch(/^bad /);
        expect(r.error === undefined || !r.error.includes("\n")).toBe(true);
      }
    }
  });

  test("random garbage", async () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from({ length: 1 + (i % 64) }, random);
      if (i % 2) bytes[0] = 0x80; // a PROTO opcode gets past the first byte more often
      for (const encoder of [Encoder.PICKLE, Encoder.JSON, Encoder.YAML]) {
        const r = await decodeRecord(encoder, bytes);
        expect(r.size).toBe(bytes.length);
        formatRecord(r);
        recordJsonLine(r);
      }
    }
  });

  test("specific failures", async () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect((await decodeRecord(Encoder.JSON, text("{oops"))).error).toMatch(/^bad JSON: /);
    expect((await decodeRecord(Encoder.JSON, new Uint8Array([0x22, 0xff, 0x22]))).error).toBe("bad JSON: payload is not UTF-8");
    expect((await decodeRecord(Encoder.YAML, text("a: [1, 2"))).error).toMatch(/^bad YAML: /);
    expect((await decodeRecord(Encoder.YAML, text("a: 1\n---\nb: 2\n"))).error).toMatch(/^bad YAML: /);
    expect((await decodeRecord(Encoder.PICKLE, new Uint8Array([0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))).error).toMatch(
      /^bad pickle: truncated/,
    );
    const unknown = await decodeRecord(9, text("xyz"));
    expect(formatRecord(unknown)).toBe("[record raw] 3 bytes (unknown encoder 9, kept as raw bytes)");
  });

  test("YAML alias bombs are refused", async () => {
    const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
    const r = await decodeRecord(Encoder.YAML, new TextEncoder().encode(lines.join("\n")));
    expect(r.error).toMatch(/^bad YAML: /);
  });

  test.concurrent("pickle memo expansion is refused, a cycle is shown as [Circular]", async () => {
    const [bomb, cycle] = await emitted(`
x = []
for _ in range(60):
    x = [x, x]
keg.output(x, keg.Encoders.PICKLE)
a = [1]
a.append(a)
keg.output(a, keg.Encoders.PICKLE)
`);
    expect(bomb!.error).toMatch(/^refused: value expands to more than/);
    expect(formatRecord(cycle!)).toBe('[record pickle] [1,"[Circular]"]');
  });
});

const withoutKeg = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter(([key]) => key !== "KEG_OUTPUT_CHANNEL" && key !== "KEG_PROCESS_ID"));

describe("the keg module", () => {
  test.concurrent("outside keg it prints to stderr instead of failing", async () => {
    const proc = Bun.spawn([python, "-c", `import keg\nkeg.output({"a": 1})\nkeg.output(b"12", keg.Encoders.RAW)\nprint(keg.process_id())`], {
      stdout: "pipe",
      stderr: "pipe",
      env: withoutKeg({ ...process.env, PYTHONPATH: modulePath }),
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ stdout, stderr, code }).toEqual({
      stdout: "None\n",
      stderr: "keg.output [json, not run by keg]: {'a': 1}\nkeg.output [raw, not run by keg]: 2 bytes\n",
      code: 0,
    });
  });

  test.concurrent("rejects values its encoder cannot carry, and records over 16 MiB", async () => {
    const run = await runPython(`
for value, encoder in [({1, 2}, keg.Encoders.JSON), (object(), keg.Encoders.YAML), ({1: 2}, keg.Encoders.YAML),
                       (b"x", keg.Encoders.YAML), (123, keg.Encoders.RAW), (b"x" * (16 * 1024 * 1024 + 1), keg.Encoders.RAW),
                       (1, 9)]:
    try:
        keg.output(value, encoder)
    except (TypeError, ValueError) as error:
        print(type(error).__name__, str(error).split(";")[0])
print(keg.process_id())
`, { KEG_PROCESS_ID: "run-7" });
    expect(run.records).toEqual([]);
    expect(run.stdout.split("\n")).toEqual([
      "TypeError keg.output: set is not JSON serializable",
      "TypeError keg.output: object cannot be encoded as YAML (plain data only: dict, list, tuple, str, int, float, bool, None)",
      "TypeError keg.output: YAML needs str dict keys, not int",
      "TypeError keg.output: bytes cannot be encoded as YAML (plain data only: dict, list, tuple, str, int, float, bool, None)",
      "TypeError keg.output: RAW takes bytes, bytearray, memoryview or str, not int",
      "ValueError keg.output: record is 16777217 bytes",
      "ValueError keg.output: unknown encoder 9 (use keg.Encoders.JSON, YAML, PICKLE or RAW)",
      "run-7",
      "",
    ]);
  });

  test.concurrent("records from many threads never interleave", async () => {
    const records = await emitted(`
import threading
def work(n):
    for i in range(40):
        keg.output({"thread": n, "i": i, "pad": "x" * (1000 * n)})
threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
`);
    expect(records.length).toBe(320);
    expect(records.every((r) => r.error === undefined)).toBe(true);
    const seen = new Set(records.map((r) => JSON.stringify([(r.value as any).thread, (r.value as any).i])));
    expect(seen.size).toBe(320);
  });
});

describe("formatRecord and recordJsonLine", () => {
  test("shapes", () => {
    const json: DecodedRecord = { encoder: "json", value: { a: 1, b: [true, null] }, size: 20 };
    expect(formatRecord(json)).toBe('[record json] {"a":1,"b":[true,null]}');
    expect(recordJsonLine(json)).toBe('{"encoder":"json","value":{"a":1,"b":[true,null]}}');
    const odd: DecodedRecord = { encoder: "pickle", value: [2n ** 70n, 5n, new Set(["s"]), new Uint8Array([1, 2]), -Infinity], size: 1 };
    expect(recordJsonLine(odd)).toBe('{"encoder":"pickle","value":["1180591620717411303424",5,["s"],{"$bytes":"AQI="},"-Infinity"]}');
    const bad: DecodedRecord = { encoder: "pickle", error: "refused: pickle uses GLOBAL (x)", size: 3 };
    expect(formatRecord(bad)).toBe("[record pickle] refused: pickle uses GLOBAL (x)");
    expect(recordJsonLine(bad)).toBe('{"encoder":"pickle","error":"refused: pickle uses GLOBAL (x)"}');
  });
});
