/**
 * docs/usage.md "Connection blips", downloads: an 8 MiB `--download` whose
 * connection is cut early, in the middle and just before its end, through
 * the test's own proxy holding back what goes to keg at an exact byte. Three
 * ways the box can be when keg comes back: still sending (stalled by
 * backpressure), already past the end of the cycle keg has only part of, or
 * having ended the cycle after its reconnect grace. Each time keg saves the
 * exact file the script wrote, or fails loudly (non-zero, one line naming
 * the file) and leaves nothing half-written at the target.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame, encodeJsonFrame, Frame } from "../../../src/wire/frames.ts";
import { kegUser } from "../../helpers/keg.ts";
import { proxiedBox, type Status } from "../../helpers/proxied-box.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { StreamText } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(120_000);

const MIB = 8;
/** Writes out.bin (argv[1] MiB of random bytes), prints its sha256, exits argv[2]. */
const SCRIPT = `import hashlib, os, sys
mib, code = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(mib * 1048576)
open("out.bin", "wb").write(data)
print(hashlib.sha256(data).hexdigest(), flush=True)
sys.exit(code)
`;

/** Where keg's connection is cut: bytes delivered to keg since it started (the output before the download is a few hundred bytes). */
const POINTS = { early: 64 * 1024, middle: (MIB / 2) * 1048576, "just before the end": MIB * 1048576 - 16 * 1024 };

/**
 * How the box is when keg comes back: `stalled` still sending the download
 * (keg resumes the open cycle; just before the end, the sockets' buffers may
 * hold the rest, so the box may have ended the cycle all the same); `ahead`
 * it sent it all into the network and ended the cycle; `past-grace` keg was
 * away longer than the grace, and the box ended the cycle of the run that
 * had exited.
 */
type BoxState = "stalled" | "ahead" | "past-grace";

type Box = Awaited<ReturnType<typeof proxiedBox>>;

const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
const leftovers = (box: Box) => readdirSync(box.dir.path).filter((name) => name.includes("keg-part"));
const boxFree = async (box: Box) => (await box.direct<Status>("/v1/status")).command_lock === null;

/** Runs the script with `--download out.bin`, cut once keg has `at` bytes, the box left in `state`; returns what keg did. */
async function cutDownload(box: Box, at: number, state: BoxState, extra: string[] = [], code = 5) {
  const base = box.proxy.downDelivered;
  box.proxy.hold({ at: base + at, agentToo: state !== "ahead" });
  const keg = box.spawn(["python", "run", "make.py", String(MIB), String(code), "--download", "out.bin", ...extra]);
  const stdout = new StreamText(keg.stdout);
  const stderr = new StreamText(keg.stderr);
  await until(() => box.proxy.downDelivered >= base + at, { deadlineMs: 30_000, what: `keg to have ${at} bytes of the answer` });
  if (state === "ahead") {
    await until(() => boxFree(box), { deadlineMs: 30_000, what: "the box to end the cycle keg has only part of" });
    box.proxy.cutAll();
  } else if (state === "past-grace") {
    box.proxy.down();
    await until(() => boxFree(box), { deadlineMs: 30_000, what: "the box to end the cycle once its grace is over" });
    box.proxy.up();
  } else box.proxy.cutAll();
  box.proxy.release();
  const exit = await keg.exited;
  await Promise.all([stdout.done, stderr.done]);
  return { exit, stdout: stdout.text, stderr: stderr.text };
}

describe("a download cut early, in the middle and just before its end", () => {
  for (const state of ["stalled", "ahead", "past-grace"] as const) {
    test.concurrent(`box ${state} when keg comes back: the saved file has the script's sha256, with its exit code`, async () => {
      await using box = await proxiedBox({ "make.py": SCRIPT }, { args: ["--reconnect-grace", "1"] });
      for (const [point, at] of Object.entries(POINTS)) {
        rmSync(box.dir.join("out.bin"), { force: true });
        const { exit, stdout, stderr } = await cutDownload(box, at, state);
        const saved = existsSync(box.dir.join("out.bin")) ? sha256(box.dir.join("out.bin")) : "no file";
        expect({ point, state, exit, stderr, saved }).toEqual({ point, state, exit: 5, stderr: "", saved: stdout.trim() });
        expect(leftovers(box)).toEqual([]);
        expect(await boxFree(box)).toBe(true);
      }
      expect(box.proxy.cuts).toBeGreaterThanOrEqual(3);
    });
  }

  test.concurrent("the connection stays lost past keg's window mid-download: exit 255, one line naming the file, nothing saved", async () => {
    await using box = await proxiedBox({ "make.py": SCRIPT }, { args: ["--reconnect-grace", "1"] });
    const base = box.proxy.downDelivered;
    box.proxy.hold({ at: base + POINTS.middle, agentToo: true });
    const keg = box.spawn(["python", "run", "make.py", String(MIB), "0", "--download", "out.bin"]);
    const stderr = new StreamText(keg.stderr);
    await until(() => box.proxy.downDelivered >= base + POINTS.middle, { deadlineMs: 30_000, what: "keg to have half the download" });
    box.proxy.down();
    const exit = await keg.exited;
    await stderr.done;
    const lines = stderr.text.trim().split("\n");
    expect({ exit, lines: lines.length }).toEqual({ exit: 255, lines: 1 });
    expect(lines[0]).toMatch(/^Error: Lost the connection to box 'lab' before 'out\.bin' was downloaded whole \(.+\); nothing of it was saved\. The run exited with code 0\.$/);
    expect(existsSync(box.dir.join("out.bin"))).toBe(false);
    expect(leftovers(box)).toEqual([]);
    await until(() => boxFree(box), { deadlineMs: 15_000, what: "the box to free itself after its grace" });
  });

  test.concurrent("the file is gone from the run folder when keg comes back: the failure is said (exit 1 after a 0, else the script's), the old file stays whole", async () => {
    // The post-run hook removes out.bin once the cycle has sent it: a second sending finds nothing.
    const state = mkdtempSync(join(tmpdir(), "keg-agent-"));
    const hook = `rm -f "${state}/runs/$KEG_PROCESS_ID/work/out.bin"`;
    await using box = await proxiedBox({ "make.py": SCRIPT }, { stateDir: state, args: ["--reconnect-grace", "1", "--post-run-hook", hook] });
    try {
      for (const code of [0, 5]) {
        writeFileSync(box.dir.join("out.bin"), "the previous file\n");
        const { exit, stderr } = await cutDownload(box, POINTS.middle, "ahead", ["--allow-overwrite"], code);
        expect({ code, exit, stderr }).toEqual({ code, exit: code || 1, stderr: "Error: Download of 'out.bin' failed: 'out.bin' does not exist in the run folder.\n" });
        expect(readFileSync(box.dir.join("out.bin"), "utf8")).toBe("the previous file\n");
        expect(leftovers(box)).toEqual([]);
      }
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

test.concurrent("a box that ends the cycle without a download keg asked for (an older agent's replay after a blip): keg says so, exit 1, no file", async () => {
  // A stand-in box: the cycle of a run that exited 0, its `end` with no `file` frames before it.
  const frames = [
    encodeJsonFrame(Frame.started, { id: crypto.randomUUID(), generation: 1, keepalive: 30, forced: false, reconnect_grace: 1 }),
    encodeFrame(Frame.stdout, new TextEncoder().encode("done\n")),
    encodeJsonFrame(Frame.exit, { code: 0, signal: null, status: "exited", ended: new Date().toISOString() }),
    encodeJsonFrame(Frame.end, { released: true }),
  ];
  using server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      await request.arrayBuffer();
      if (new URL(request.url).pathname !== "/v1/runs") return Response.json({});
      return new Response(new Blob(frames as Uint8Array<ArrayBuffer>[]), { headers: { "content-type": "application/vnd.keg.frames" } });
    },
  });
  using dir = tempDir("keg-dl-", { "make.py": "print('done')\n" });
  const keg = kegUser();
  try {
    const result = await keg.run(["python", "run", "make.py", "--download", "out.bin", "--box", `http://127.0.0.1:${server.port}`], { cwd: dir.path, env: { KEG_TOKEN: "t" } });
    expect(result).toEqual({ code: 1, stdout: "done\n", stderr: "Error: Download of 'out.bin' failed: the box did not send it.\n" });
    expect(readdirSync(dir.path)).toEqual(["make.py"]);
  } finally {
    rmSync(keg.home, { recursive: true, force: true });
  }
});
