/**
 * Client faults (docs/reliability.md "Client faults"): keg processes
 * SIGKILLed, SIGSTOPped and resumed, their connections cut mid-upload,
 * mid-stream and mid-download at random points. After each: no run left
 * running whose client is gone, no lock held by nobody, and every exit code
 * that reached a client is the script's true one.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { proxiedBox, type RunRow, type Status } from "../helpers/proxied-box.ts";
import { StreamText } from "../helpers/run.ts";
import { until } from "../helpers/until.ts";
import { LONG, seeded, size } from "./mode.ts";

setDefaultTimeout(LONG ? 3_600_000 : 120_000);

const TRIALS = size(6, 200);
const FAULTS = ["sigkill", "sigstop", "cut-upload", "cut-stream", "cut-download", "none"] as const;

/** Prints `lines` paced lines, writes out.bin (`mib` MiB of random bytes), prints its sha256, exits `code`. */
const SCRIPT = `import hashlib, os, sys, time
code, lines, mib = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
for i in range(lines):
    print(f"line {i}", flush=True)
    time.sleep(0.002)
data = os.urandom(mib * 1048576)
open("out.bin", "wb").write(data)
print(hashlib.sha256(data).hexdigest())
sys.exit(code)
`;

/** Exit codes keg itself gives a run it could not follow to its end (docs/cli.md "Exit codes"). */
const KEG_OWN = new Set([1, 137, 255]);

test(`${TRIALS} runs with a client fault each: no run without its client, no lock held by nobody, no false exit code`, async () => {
  const rng = seeded("client faults");
  await using box = await proxiedBox({ "fault.py": SCRIPT }, { args: ["--reconnect-grace", "1"] });
  writeFileSync(box.dir.join("big.bin"), randomBytes(6 * 1024 * 1024));
  const counts: Record<string, number> = {};
  for (let trial = 0; trial < TRIALS; trial++) {
    const fault = trial < FAULTS.length ? FAULTS[trial]! : rng.pick(FAULTS);
    counts[fault] = (counts[fault] ?? 0) + 1;
    const code = 3 + rng.int(60);
    const downloads = fault === "cut-download" ? ["--download", "out.bin", "--allow-overwrite"] : [];
    const uploads = fault === "cut-upload" ? ["--add-file", "big.bin"] : [];
    const mib = fault === "cut-download" ? 8 : 0;
    const keg = box.spawn(["python", "run", "fault.py", String(code), String(fault === "cut-stream" ? 3000 : 300), String(mib), ...downloads, ...uploads]);
    const stdout = new StreamText(keg.stdout);
    const stderr = new StreamText(keg.stderr);
    const upBefore = box.proxy.upBytes;
    const downBefore = box.proxy.downBytes;
    switch (fault) {
      case "sigkill":
        await stdout.waitFor(/ready\n/);
        if (rng.int(2)) await stdout.waitFor(new RegExp(`line ${rng.int(300)}\\n`));
        keg.kill("SIGKILL");
        break;
      case "sigstop": {
        await stdout.waitFor(/ready\n/);
        keg.kill("SIGSTOP");
        await Bun.sleep(200 + rng.int(1300)); // the fault itself: stopped for a random while
        keg.kill("SIGCONT");
        break;
      }
      case "cut-upload": {
        const at = 1 + rng.int(5 * 1024 * 1024); // drawn once, not at each look: a seed replays the same cut
        await until(() => box.proxy.upBytes - upBefore > at, { what: "part of the upload to pass", deadlineMs: 20_000 });
        box.proxy.cutAll();
        break;
      }
      case "cut-stream":
        await stdout.waitFor(new RegExp(`line ${rng.int(3000)}\\n`), 30_000);
        box.proxy.cutAll();
        break;
      case "cut-download": {
        const at = 1024 * 1024 + rng.int(6 * 1024 * 1024);
        await until(() => box.proxy.downBytes - downBefore > at, { what: "part of the download to pass", deadlineMs: 30_000 });
        box.proxy.cutAll();
        break;
      }
    }
    const exit = await keg.exited;
    await Promise.all([stdout.done, stderr.done]);
    // Every exit code that reached keg is the script's own, unless keg says it could not learn it.
    if (!KEG_OWN.has(exit) || fault === "none" || fault === "sigstop" || fault === "cut-stream" || fault === "cut-download")
      expect({ trial, fault, exit, stderr: stderr.text }).toEqual({ trial, fault, exit: code, stderr: "" });
    if (fault === "cut-download") {
      // The file is reused across trials (--allow-overwrite): a stale or torn one shows as the wrong sha256.
      const saved = new Bun.CryptoHasher("sha256").update(readFileSync(box.dir.join("out.bin"))).digest("hex");
      expect({ trial, fault, saved }).toEqual({ trial, fault, saved: stdout.text.trim().split("\n").at(-1)! });
    }
    // Nothing runs for a client that is gone, and nobody-held locks do not exist, once the grace is over.
    await until(
      async () => {
        const runs = await box.direct<RunRow[]>("/v1/runs");
        const status = await box.direct<Status>("/v1/status");
        return runs.every((r) => r.status !== "running") && status.command_lock === null;
      },
      { deadlineMs: 15_000, what: `trial ${trial} (${fault}): every run ended and the box free` },
    );
  }
  console.error(`reliability client faults: ${TRIALS} trials ${JSON.stringify(counts)}`);
});
