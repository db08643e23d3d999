/**
 * On the compiled binaries with real Python: what a script writes reaches
 * keg's stdout byte for byte, whether keg reads at once, stops for a while
 * or reads slowly. The bytes are all different (a chain of sha256 digests),
 * so a buffer refilled too soon anywhere on the way (the agent's spool
 * reader refills one per answer, docs/performance.md "Memory and
 * streaming"; keg hands output out in pieces of what arrived) shows as a
 * wrong checksum, where output of one repeated byte would not. And keg
 * widens a pipe on its stdout once a run has printed a MiB there.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { cleanEnv, kegBin } from "../../helpers/bin.ts";
import { realPython, runBox } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(90_000);

const MIB = 24;

/** Writes MIB MiB of chained sha256 digests in writes of odd sizes; with a gate folder, waits for its `go` first. */
const chain = `
import hashlib, os, sys, time
gate = sys.argv[1] if len(sys.argv) > 1 else None
if gate:
    open(os.path.join(gate, 'ready'), 'w').close()
    while not os.path.exists(os.path.join(gate, 'go')):
        time.sleep(0.005)
digest = b'keg'
block = bytearray()
sizes = [65536, 1, 300000, 7, 4096, 131071]
written = 0
i = 0
while written < ${MIB} * 1024 * 1024:
    while len(block) < 300000:
        digest = hashlib.sha256(digest).digest()
        block += digest
    size = min(sizes[i % len(sizes)], ${MIB} * 1024 * 1024 - written)
    piece = bytes(block[:size])
    while piece:
        piece = piece[os.write(1, piece):]
    del block[:size]
    written += size
    i += 1
`;

const sha256 = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** The script's bytes, run locally: what keg must deliver. */
function expected(script: string): string {
  const local = Bun.spawnSync([realPython(), script], { stdout: "pipe", stderr: "inherit" });
  expect(local.exitCode).toBe(0);
  return sha256(local.stdout);
}

test("every byte of varied output arrives as written: read at once, after a stop of keg, and by a slow reader", async () => {
  await using box = await runBox({ "chain.py": chain }, { args: ["--log-limit", "256"] });
  const want = expected(box.dir.join("chain.py"));

  const atOnce = box.spawn(["python", "run", "chain.py"]);
  const [atOnceOut, atOnceCode] = await Promise.all([new Response(atOnce.stdout as ReadableStream).bytes(), atOnce.exited]);
  expect({ code: atOnceCode, bytes: atOnceOut.length, sha: sha256(atOnceOut) }).toEqual({ code: 0, bytes: MIB * 1024 * 1024, sha: want });

  // keg stopped while the script writes it all: the agent reads the spool in its own time.
  using gate = tempDir("keg-gate-");
  const stopped = box.spawn(["python", "run", "chain.py", gate.path]);
  await until(() => existsSync(gate.join("ready")), { deadlineMs: 15_000, what: "the script to start" });
  stopped.kill("SIGSTOP");
  await Bun.write(gate.join("go"), "");
  await until(() => (box.agent.output().match(/event=run-ended/g) ?? []).length >= 2, { deadlineMs: 30_000, what: "the run to end while keg is stopped" });
  stopped.kill("SIGCONT");
  const [stoppedOut, stoppedCode] = await Promise.all([new Response(stopped.stdout as ReadableStream).bytes(), stopped.exited]);
  expect({ code: stoppedCode, sha: sha256(stoppedOut) }).toEqual({ code: 0, sha: want });

  // A reader that takes 16 KiB at a time with a pause: keg, and the agent behind it, wait on it.
  const slow = box.spawn(["python", "run", "chain.py"]);
  const reader = (slow.stdout as ReadableStream<Uint8Array>).getReader();
  const hasher = new Bun.CryptoHasher("sha256");
  let chunks = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    hasher.update(next.value);
    if (++chunks % 64 === 0) await Bun.sleep(5);
  }
  expect({ code: await slow.exited, sha: hasher.digest("hex") }).toEqual({ code: 0, sha: want });
});

/** keg's stdout is a pipe made here (Bun's spawn would give a socket pair): how many bytes came through it, and its size at the end. */
function throughPipe(args: string[], env: Record<string, string>, cwd: string) {
  const harness = [
    "import fcntl, os, subprocess, sys",
    "r, w = os.pipe()",
    "p = subprocess.Popen(sys.argv[1:], stdout=w)",
    "os.close(w)",
    "n = 0",
    "while chunk := os.read(r, 1 << 20): n += len(chunk)",
    "print(p.wait(), n, fcntl.fcntl(r, fcntl.F_GETPIPE_SZ))",
  ].join("\n");
  const proc = Bun.spawnSync(["python3", "-c", harness, kegBin(), ...args], { env: cleanEnv(env), cwd, stdout: "pipe", stderr: "pipe" });
  const [code, bytes, pipeBytes] = proc.stdout.toString().trim().split(" ").map(Number);
  return { code, bytes, pipeBytes };
}

test("a bulk stream into a pipe widens keg's stdout pipe to 1 MiB; a short output leaves it at 64 KiB (docs/performance.md \"Into a pipe, an early connection, and a new machine\")", async () => {
  await using box = await runBox();
  const env = { KEG_HOME: box.user.home };
  expect(throughPipe(["exec", "--box", "lab", "--", "head", "-c", "3000000", "/dev/zero"], env, box.dir.path)).toEqual({ code: 0, bytes: 3_000_000, pipeBytes: 1024 * 1024 });
  expect(throughPipe(["exec", "--box", "lab", "--", "head", "-c", "1000", "/dev/zero"], env, box.dir.path)).toEqual({ code: 0, bytes: 1000, pipeBytes: 64 * 1024 });
});
