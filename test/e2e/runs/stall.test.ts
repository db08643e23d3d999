/**
 * On the compiled binaries with real Python: a client
 * that stops reading neither slows the script nor grows the agent's memory,
 * and still gets every byte once it reads again (docs/usage.md "Runs": output spooled on
 * the box, sent at the client's pace). Alone in its file: it measures time.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { countBytes, readIfThere, realPython, rssBytes, runBox, StreamText } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(90_000);

const CHUNK = 64 * 1024;
const CHUNKS = 800; // 50 MiB
const TOTAL = CHUNK * CHUNKS;

/** Says ready, waits for `go`, writes 50 MiB to stdout in 64 KiB writes, then records how long that took. */
const flood = `
import os, sys, time
gate = sys.argv[1]
open(os.path.join(gate, 'ready'), 'w').close()
while not os.path.exists(os.path.join(gate, 'go')):
    time.sleep(0.005)
chunk = memoryview(b'x' * ${CHUNK})
started = time.monotonic()
for _ in range(${CHUNKS}):
    view = chunk
    while view:
        view = view[os.write(1, view):]
elapsed = time.monotonic() - started
open(os.path.join(gate, 'time.tmp'), 'w').write(repr(elapsed))
os.rename(os.path.join(gate, 'time.tmp'), os.path.join(gate, 'time'))
`;

test("a stopped client: the script writes 50 MiB on time, agent RSS stays bounded, every byte arrives after SIGCONT", async () => {
  await using box = await runBox({ "flood.py": flood }, { args: ["--log-limit", "256"] });
  using gate = tempDir("keg-gate-");
  using unobserved = tempDir("keg-gate-", { go: "" });

  // The same script with nobody watching: its output straight to /dev/null.
  const baseline = Bun.spawnSync([realPython(), box.dir.join("flood.py"), unobserved.path], { stdout: "ignore", stderr: "inherit" });
  expect(baseline.exitCode).toBe(0);
  const baselineSeconds = Number(readIfThere(unobserved.join("time")));

  const keg = box.spawn(["python", "run", "flood.py", gate.path]);
  const stderr = new StreamText(keg.stderr);
  await until(() => existsSync(gate.join("ready")), {
    deadlineMs: 15_000,
    what: "the script to start",
  });
  keg.kill("SIGSTOP");
  let stoppedAgentRss = rssBytes(box.agent.pid);
  writeFileSync(gate.join("go"), "");
  const elapsed = await until(
    () => {
      stoppedAgentRss = Math.max(stoppedAgentRss, rssBytes(box.agent.pid));
      const text = readIfThere(gate.join("time"));
      return text === undefined ? undefined : Number(text);
    },
    { deadlineMs: 30_000, what: "the script to finish writing while keg is stopped" },
  );
  stoppedAgentRss = Math.max(stoppedAgentRss, rssBytes(box.agent.pid));
  expect(keg.exitCode).toBeNull();
  expect(elapsed).toBeLessThan(Math.max(2 * baselineSeconds, baselineSeconds + 2));
  expect(stoppedAgentRss).toBeLessThan(300 * 1024 * 1024);

  keg.kill("SIGCONT");
  const [received, code] = await Promise.all([countBytes(keg.stdout), keg.exited]);
  await stderr.done;
  expect({ received, code, stderr: stderr.text }).toEqual({ received: TOTAL, code: 0, stderr: "" });
});
