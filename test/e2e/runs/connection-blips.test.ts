/**
 * docs/usage.md "Connection blips": keg's connection to the box goes through
 * a TCP proxy of the test's own, cut mid-stream or gone for a while. keg
 * reconnects and resumes at its byte offset: every byte exactly once, in
 * order, and the script's exit code; an outage longer than the box's
 * `--reconnect-grace` stops the run and frees the box.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { proxiedBox, type RunRow as Run, type Status } from "../../helpers/proxied-box.ts";
import { isRunning, readIfThere, StreamText } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

const LINES = 2_097_152; // 10 bytes each: 20 MiB
const TOTAL = LINES * 10;

/** Prints LINES numbered lines in 64 KiB bursts, paced so cuts land mid-stream, then exits argv[1]. */
const NUMBERS = `import sys, time
out = sys.stdout.buffer
i, per = 0, 6554
while i < ${LINES}:
    n = min(per, ${LINES} - i)
    out.write("".join(f"{j:09d}\\n" for j in range(i, i + n)).encode())
    out.flush()
    i += n
    time.sleep(0.012)
sys.exit(int(sys.argv[1]))
`;

const expectedSha256 = (() => {
  let digest: string | undefined;
  return () => {
    if (digest) return digest;
    const hasher = new Bun.CryptoHasher("sha256");
    for (let i = 0; i < LINES; i += 65_536) {
      let chunk = "";
      for (let j = i; j < Math.min(LINES, i + 65_536); j++) chunk += `${String(j).padStart(9, "0")}\n`;
      hasher.update(chunk);
    }
    return (digest = hasher.digest("hex"));
  };
})();

/** Hashes and counts a stream as it comes, keeping nothing. */
class StreamDigest {
  bytes = 0;
  private readonly hasher = new Bun.CryptoHasher("sha256");
  readonly done: Promise<string>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of stream) {
        this.hasher.update(chunk);
        this.bytes += chunk.length;
      }
      return this.hasher.digest("hex");
    })();
  }
}

describe("connection blips", () => {
  test.concurrent("a 20 MiB output cut three times mid-stream: stdout has every byte once, in order, and the script's exit code", async () => {
    await using box = await proxiedBox({ "numbers.py": NUMBERS });
    const keg = box.spawn(["python", "run", "numbers.py", "7"]);
    const stdout = new StreamDigest(keg.stdout as ReadableStream<Uint8Array>);
    const stderr = new StreamText(keg.stderr);
    let cuts = 0;
    for (const share of [0.2, 0.45, 0.7]) {
      await until(() => stdout.bytes >= TOTAL * share, { deadlineMs: 30_000, what: `${share * 100}% of the output (${stdout.bytes} bytes so far)` });
      box.proxy.cutAll();
      cuts++;
    }
    const [digest, code] = await Promise.all([stdout.done, keg.exited]);
    await stderr.done;
    expect({ bytes: stdout.bytes, code, stderr: stderr.text, cuts }).toEqual({ bytes: TOTAL, code: 7, stderr: "", cuts: 3 });
    expect(digest).toBe(expectedSha256());
    expect(box.proxy.downBytes).toBeGreaterThan(TOTAL);
    expect(await box.direct<Status>("/v1/status")).toMatchObject({ command_lock: null });
  });

  test.concurrent("an outage shorter than the grace: the run goes on, and keg gets the rest of its cycle (exit code, download)", async () => {
    await using box = await proxiedBox(
      {
        "pause.py": `import os, sys, time\nprint("before", flush=True)\nwhile not os.path.exists(sys.argv[1]):\n    time.sleep(0.02)\nopen("out.txt", "w").write("made while away\\n")\nprint("after")\nsys.exit(3)\n`,
      },
      { args: ["--reconnect-grace", "30"] },
    );
    const go = box.dir.join("go");
    const keg = box.spawn(["python", "run", "pause.py", go, "--download", "out.txt"]);
    const stdout = new StreamText(keg.stdout);
    await stdout.waitFor(/^before\n/);
    box.proxy.down();
    // The script finishes while keg cannot reach the box.
    await Bun.write(go, "");
    await until(async () => (await box.direct<Run[]>("/v1/runs")).find((r) => r.runnable === "pause.py")?.status === "exited", { what: "the run to end" });
    expect(keg.exitCode).toBeNull();
    expect(await box.direct<Status>("/v1/status")).not.toMatchObject({ command_lock: null });
    box.proxy.up();
    expect(await keg.exited).toBe(3);
    await stdout.done;
    expect(stdout.text).toBe("before\nafter\n");
    expect(readFileSync(box.dir.join("out.txt"), "utf8")).toBe("made while away\n");
    expect(await box.direct<Status>("/v1/status")).toMatchObject({ command_lock: null });
  });

  test.concurrent("the proxy gone for longer than the grace: the run is stopped, the box is free, and keg says so (exit 255)", async () => {
    await using box = await proxiedBox({ "sleep.py": "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\nprint('ready', flush=True)\ntime.sleep(120)\n" }, { args: ["--reconnect-grace", "2"] });
    const pidFile = box.dir.join("pid");
    const keg = box.spawn(["python", "run", "sleep.py", pidFile]);
    const stdout = new StreamText(keg.stdout);
    const stderr = new StreamText(keg.stderr);
    await stdout.waitFor(/^ready\n/);
    const script = Number(readIfThere(pidFile));
    box.proxy.down();
    await until(() => !isRunning(script), { what: "the run to be stopped after the grace" });
    await until(async () => (await box.direct<Status>("/v1/status")).command_lock === null, { what: "the box to be free" });
    expect(keg.exitCode).toBeNull();
    box.proxy.up();
    expect(await keg.exited).toBe(255);
    await stderr.done;
    expect(stderr.text).toBe("Error: The run was stopped: the connection was lost for more than 2 s.\n");
    expect((await box.direct<Run[]>("/v1/runs")).find((r) => r.runnable === "sleep.py")?.status).toBe("killed");
  });

  test.concurrent("--reattach cut twice mid-stream resumes at its offset: every line once, and the run's exit code", async () => {
    await using box = await proxiedBox({ "numbers.py": NUMBERS });
    const started = await box.run(["python", "run", "numbers.py", "5", "--detach"]);
    expect(started.code).toBe(0);
    const keg = box.spawn(["python", "--reattach", started.stdout.trim()]);
    const stdout = new StreamDigest(keg.stdout as ReadableStream<Uint8Array>);
    for (const share of [0.3, 0.6]) {
      await until(() => stdout.bytes >= TOTAL * share, { deadlineMs: 30_000, what: `${share * 100}% of the output` });
      box.proxy.cutAll();
    }
    const [digest, code] = await Promise.all([stdout.done, keg.exited]);
    expect({ bytes: stdout.bytes, code }).toEqual({ bytes: TOTAL, code: 5 });
    expect(digest).toBe(expectedSha256());
  });
});
