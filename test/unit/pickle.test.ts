/** The safe pickle reader against pickles made by the real Python, every protocol, and against garbage. */
import { beforeAll, describe, expect, test } from "bun:test";
import { PickleError, readPickle } from "../../src/client/pickle.ts";

let python = "python3";

beforeAll(async () => {
  // python3 on PATH may be a slow pyenv shim: resolve the real interpreter once.
  const proc = Bun.spawn(["python3", "-c", "import sys;print(sys.executable)"], { stdout: "pipe", stderr: "ignore" });
  python = (await new Response(proc.stdout).text()).trim() || "python3";
});

/** Runs Python that fills `out` (name -> bytes) and returns those pickles. */
async function pickles(script: string): Promise<Record<string, Uint8Array>> {
  const code = `import base64, json, os, pickle, collections\nout = {}\n${script}\nprint(json.dumps({k: base64.b64encode(v).decode() for k, v in out.items()}))`;
  const proc = Bun.spawn([python, "-c", code], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ stderr, exitCode }).toEqual({ stderr: "", exitCode: 0 });
  const encoded: Record<string, string> = JSON.parse(stdout);
  return Object.fromEntries(Object.entries(encoded).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, "base64"))]));
}

const bytes = (...values: (number | string)[]) =>
  Uint8Array.from(values.flatMap((v) => (typeof v === "number" ? [v] : Array.from(v, (c) => c.charCodeAt(0)))));

function refusal(data: Uint8Array): string {
  try {
    readPickle(data);
  } catch (error) {
    expect(error).toBeInstanceOf(PickleError);
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

const plainPython = `{
  "none": None, "t": True, "f": False,
  "ints": [0, 1, 255, 256, 65535, 65536, -1, -129, 2**31 - 1, -2**31, 2**53, 2**64, -2**64, 2**3000],
  "floats": [0.5, -0.0, 1e-300, 1e300, float("inf"), float("-inf"), float("nan")],
  "strs": ["", "ascii", "é日本😀", "back\\\\slash", "new\\nline", "\\u0000nul", "x" * 300],
  "bytes": [b"", b"\\x00\\xff", b"y" * 300], "ba": bytearray(b"ab"),
  "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((1,), [2])],
  "list": [[], [[[]]]], "dict": {"k": {"n": {}}}, "set": {1, "a"}, "empty_set": set(), "frozen": frozenset([3]),
  "keys": {1: "int", 2.5: "float", None: "none", False: "bool", "__proto__": "str"},
}`;

const plainValue = {
  none: null,
  t: true,
  f: false,
  ints: [0, 1, 255, 256, 65535, 65536, -1, -129, 2 ** 31 - 1, -(2 ** 31), 2n ** 53n, 2n ** 64n, -(2n ** 64n), 2n ** 3000n],
  floats: [0.5, -0, 1e-300, 1e300, Infinity, -Infinity, NaN],
  strs: ["", "ascii", "é日本😀", "back\\slash", "new\nline", "\u0000nul", "x".repeat(300)],
  bytes: [new Uint8Array(), new Uint8Array([0, 255]), new Uint8Array(300).fill(121)],
  ba: new Uint8Array([97, 98]),
  tuples: [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [[1], [2]]],
  list: [[], [[[]]]],
  dict: { k: { n: {} } },
  set: new Set([1, "a"]),
  empty_set: new Set(),
  frozen: new Set([3]),
  keys: { "1": "int", "2.5": "float", null: "none", false: "bool", ["__proto__"]: "str" },
};

describe("plain data from Python", () => {
  test.concurrent("every protocol, 0 to 5", async () => {
    const made = await pickles(`data = ${plainPython}\nfor p in range(6):\n    out[str(p)] = pickle.dumps(data, protocol=p)`);
    for (let protocol = 0; protocol <= 5; protocol++) {
      expect({ protocol, value: readPickle(made[String(protocol)]!) }).toEqual({ protocol, value: plainValue });
    }
  });

  test.concurrent("shared references stay shared and a list can hold itself", async () => {
    const made = await pickles(`
shared = [1]
a = [shared, shared]
b = []
b.append(b)
t = ([],)
t[0].append(t)
for p in (0, 2, 4, 5):
    out["shared%d" % p] = pickle.dumps(a, protocol=p)
    out["self%d" % p] = pickle.dumps(b, protocol=p)
    out["tuple%d" % p] = pickle.dumps(t, protocol=p)
`);
    for (const p of [0, 2, 4, 5]) {
      const shared = readPickle(made[`shared${p}`]!) as unknown[][];
      expect(shared).toEqual([[1], [1]]);
      expect(shared[0]).toBe(shared[1]!);
      const self = readPickle(made[`self${p}`]!) as unknown[];
      expect(self[0]).toBe(self);
      const tuple = readPickle(made[`tuple${p}`]!) as unknown[][];
      expect(tuple[0]![0]).toBe(tuple);
    }
  });

  test("hand-written Python 2 opcodes", () => {
    expect(readPickle(bytes("S'a\\nb\\x41\\101\\''\n."))).toBe("a\nbAA'");
    expect(readPickle(bytes("T", 2, 0, 0, 0, "hi."))).toBe("hi");
    expect(readPickle(bytes("U", 2, "yo."))).toBe("yo");
    expect(readPickle(bytes("(I1\nI00\nI01\nL-12345678901234567890L\nF-inf\nt."))).toEqual([1, false, true, -12345678901234567890n, -Infinity]);
    expect(readPickle(bytes("Va\\u005cb\\U0001f600\n."))).toBe("a\\b😀");
    const self = readPickle(bytes("(lp0\nI1\nag0\na.")) as unknown[];
    expect(self.length).toBe(2);
    expect(self[0]).toBe(1);
    expect(self[1]).toBe(self);
  });
});

describe("refused, and nothing runs", () => {
  test.concurrent("os.system through __reduce__, every protocol", async () => {
    const made = await pickles(`
class E:
    def __reduce__(self):
        return (os.system, ("touch /tmp/keg-never-created",))
for p in range(6):
    out[str(p)] = pickle.dumps({"x": [E()]}, protocol=p)
`);
    for (let p = 0; p <= 5; p++) {
      const op = p >= 4 ? "STACK_GLOBAL" : "GLOBAL";
      expect(refusal(made[String(p)]!)).toMatch(
        new RegExp(`^refused: pickle uses ${op} \\(would import (posix|os)\\.system\\); keg reads plain data only and executed nothing$`),
      );
    }
  });

  test.concurrent("objects that are not plain data", async () => {
    const made = await pickles(`
class Point:
    def __init__(self): self.x = 1
import datetime
out["instance"] = pickle.dumps(Point(), protocol=4)
out["instance0"] = pickle.dumps(Point(), protocol=0)
out["ordered"] = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
out["date"] = pickle.dumps(datetime.date(2024, 1, 2), protocol=5)
out["type"] = pickle.dumps(set, protocol=4)
out["function"] = pickle.dumps(len, protocol=4)
`);
    expect(refusal(made.instance!)).toStartWith("refused: pickle uses STACK_GLOBAL (would import __main__.Point)");
    expect(refusal(made.instance0!)).toStartWith("refused: pickle uses GLOBAL (would import copy_reg._reconstructor)");
    expect(refusal(made.ordered!)).toStartWith("refused: pickle uses GLOBAL (would import collections.OrderedDict)");
    expect(refusal(made.date!)).toStartWith("refused: pickle uses STACK_GLOBAL (would import datetime.date)");
    expect(refusal(made.type!)).toStartWith("refused: pickle uses GLOBAL (holds a reference to builtins.set, not data)");
    expect(refusal(made.function!)).toStartWith("refused: pickle uses STACK_GLOBAL (would import builtins.len)");
  });

  test("each object-building opcode", () => {
    const cases: [Uint8Array, string][] = [
      [bytes("}}b."), "BUILD"],
      [bytes("(N)R."), "REDUCE"],
      [bytes(0x80, 2, 0x82, 1, "."), "EXT1"],
      [bytes(0x80, 2, 0x83, 1, 0, "."), "EXT2"],
      [bytes(0x80, 2, 0x84, 1, 0, 0, 0, "."), "EXT4"],
      [bytes("Pid\n."), "PERSID"],
      [bytes("NQ."), "BINPERSID"],
      [bytes(0x80, 2, "N)", 0x81, "."), "NEWOBJ"],
      [bytes(0x80, 4, "N)}", 0x92, "."), "NEWOBJ_EX"],
      [bytes("(ios\nsystem\n."), "INST"],
      [bytes("(No."), "OBJ"],
      [bytes(0x80, 5, 0x97, "."), "NEXT_BUFFER"],
      [bytes("cos\nsystem\n."), "GLOBAL"],
    ];
    for (const [data, op] of cases) expect(refusal(data)).toStartWith(`refused: pickle uses ${op} (`);
    expect(refusal(bytes("(ios\nsystem\n."))).toContain("would build an instance of os.system");
  });
});

describe("garbage gives a PickleError, never another error or a hang", () => {
  test.concurrent("every truncation and every one-byte change of real pickles", async () => {
    const made = await pickles(`data = ${plainPython}\nfor p in (0, 2, 4, 5):\n    out[str(p)] = pickle.dumps(data, protocol=p)`);
    for (const data of Object.values(made)) {
      for (let n = 0; n < data.length; n++) expect(refusal(data.subarray(0, n))).toMatch(/^bad pickle: /);
      for (let i = 0; i < data.length; i++) {
        const changed = data.slice();
        changed[i] ^= 0x5a;
        try {
          readPickle(changed);
        } catch (error) {
          expect(error).toBeInstanceOf(PickleError);
          expect((error as Error).message).toMatch(/^(bad pickle|refused): [^\n]*$/);
        }
      }
    }
  });

  test("absurd lengths fail at once, without allocating", () => {
    const huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    const started = performance.now();
    expect(refusal(bytes(0x80, 4, 0x8d, ...huge, "."))).toBe("bad pickle: truncated at byte 11");
    expect(refusal(bytes(0x80, 4, 0x8e, ...huge, "."))).toStartWith("bad pickle: truncated");
    expect(refusal(bytes(0x80, 5, 0x96, ...huge, "."))).toStartWith("bad pickle: truncated");
    expect(refusal(bytes(0x80, 4, 0x95, ...huge, "N."))).toStartWith("bad pickle: truncated");
    expect(refusal(bytes(0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, "."))).toStartWith("bad pickle: truncated");
    expect(refusal(bytes(0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0xff, "."))).toBe("bad pickle: negative LONG4 length");
    expect(refusal(bytes("X", 0xff, 0xff, 0xff, 0xff, "."))).toStartWith("bad pickle: truncated");
    expect(refusal(bytes("B", 0xff, 0xff, 0xff, 0xff, "."))).toStartWith("bad pickle: truncated");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("malformed structure", () => {
    expect(refusal(bytes())).toBe("bad pickle: truncated at byte 0");
    expect(refusal(bytes("N"))).toBe("bad pickle: truncated at byte 1");
    expect(refusal(bytes("."))).toBe("bad pickle: stack underflow at byte 0");
    expect(refusal(bytes(0xff))).toBe("bad pickle: unknown opcode 0xff at byte 0");
    expect(refusal(bytes(0x80, 6, "N."))).toBe("bad pickle: unsupported protocol 6");
    expect(refusal(bytes("]Ne."))).toBe("bad pickle: no MARK before byte 2");
    expect(refusal(bytes("h", 3, "."))).toBe("bad pickle: memo entry 3 is missing");
    expect(refusal(bytes("(N."))).toBe("bad pickle: MARK left open at STOP");
    expect(refusal(bytes(")Na."))).toBe("bad pickle: APPEND to something not a list");
    expect(refusal(bytes("]NNs."))).toBe("bad pickle: SETITEM on something not a dict");
    expect(refusal(bytes("Ifoo\n."))).toBe("bad pickle: 'foo' is not an integer");
    expect(refusal(bytes("Fx\n."))).toBe("bad pickle: 'x' is not a float");
    expect(refusal(bytes("S'abc\n."))).toBe("bad pickle: STRING argument is not quoted");
    expect(refusal(bytes("c__builtin__\nset\nI1\n\x85R."))).toBe("bad pickle: unexpected arguments for __builtin__.set");
  });

  test("random bytes", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    for (let i = 0; i < 20000; i++) {
      const data = Uint8Array.from({ length: 1 + (i % 48) }, random);
      try {
        readPickle(data);
      } catch (error) {
        expect(error).toBeInstanceOf(PickleError);
      }
    }
  });
});
