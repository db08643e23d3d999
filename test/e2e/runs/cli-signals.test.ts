/**
 * SIGTERM and SIGHUP to keg (a cancelled CI job, a closed terminal), on the
 * compiled binaries with real Python: while attached they stop the run like
 * Ctrl-C and keg exits 143 / 129 once the box has ended the cycle; while
 * `--reattach`ed they stop following and leave the run running
 * (docs/cli.md "Exit codes").
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { isRunning, readIfThere, runBox, StreamText, expectNextRunWorks, type RunBox } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

const CODES = { SIGTERM: 143, SIGHUP: 129 } as const;
const SIGNALS = Object.keys(CODES) as (keyof typeof CODES)[];

/** A script that writes its pid to `pidFile`, says ready, then sleeps. */
const sleeper = (pidFile: string) =>
  [
    "import os, time",
    `open(${JSON.stringify(pidFile)} + '.tmp', 'w').write(str(os.getpid()))`,
    `os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})`,
    "print('ready', flush=True)",
    "time.sleep(60)",
  ].join("\n");

/** Writes the sleeper as `name` in the box's folder; returns where it will write its pid. */
async function writeSleeper(box: RunBox, name: string): Promise<string> {
  const pidFile = box.dir.join(`${name}.pid`);
  await Bun.write(box.dir.join(name), sleeper(pidFile));
  return pidFile;
}

describe("a signal to an attached keg stops the run on the box", () => {
  for (const signal of SIGNALS) {
    test.concurrent(`${signal}: exit ${CODES[signal]}, the script is gone, and the box is free at once`, async () => {
      await using box = await runBox();
      const pidFile = await writeSleeper(box, "waiter.py");
      const keg = box.spawn(["python", "run", "waiter.py"]);
      const stdout = new StreamText(keg.stdout);
      const stderr = new StreamText(keg.stderr);
      await stdout.waitFor(/^ready\n/);
      const script = Number(readIfThere(pidFile));
      expect(isRunning(script)).toBe(true);

      keg.kill(signal);
      expect(await keg.exited).toBe(CODES[signal]);
      expect(keg.signalCode).toBeNull(); // keg chose its code: the signal did not kill it
      // keg waited for the run's end: the script was already reaped when it exited.
      expect(isRunning(script)).toBe(false);
      await stderr.done;
      // Then the script's own traceback from the SIGINT the box sent it.
      expect(stderr.text).toStartWith(`\nkeg: stopping the run on the box (${signal} again to leave at once)\n`);
      expect(stderr.text).toContain("KeyboardInterrupt");

      // keg left only after the box released its command lock, so this starts at once (no 75).
      await Bun.write(box.dir.join("again.py"), "print('again')\n");
      expect(await box.run(["python", "run", "again.py"])).toMatchObject({ code: 0, stdout: "again\n", stderr: "" });
    });
  }

  test.concurrent("SIGTERM while waiting in line: exit 143, the run never starts, the box stays usable", async () => {
    await using box = await runBox();
    const firstPid = await writeSleeper(box, "first.py");
    const first = box.spawn(["python", "run", "first.py"]);
    const firstOut = new StreamText(first.stdout);
    await firstOut.waitFor(/^ready\n/);

    const marker = box.dir.join("second-ran");
    await Bun.write(box.dir.join("second.py"), `open(${JSON.stringify(marker)}, 'w').write('ran')\n`);
    const second = box.spawn(["python", "run", "second.py", "--wait", "0"]);
    const secondErr = new StreamText(second.stderr);
    await secondErr.waitFor(/#1 in line/);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(143);
    expect(second.signalCode).toBeNull();
    await secondErr.done;
    expect(secondErr.text).toEndWith("\nkeg: stopping the run on the box (SIGTERM again to leave at once)\n");

    first.kill("SIGINT");
    expect(await first.exited).toBe(130);
    expect(isRunning(Number(readIfThere(firstPid)))).toBe(false);
    await expectNextRunWorks(box);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("a signal to a reattached keg stops following and leaves the run running", () => {
  for (const signal of SIGNALS) {
    test.concurrent(`${signal}: exit ${CODES[signal]}, the run goes on and can still be stopped`, async () => {
      await using box = await runBox();
      const pidFile = await writeSleeper(box, "long.py");
      const started = await box.run(["python", "run", "long.py", "-d"]);
      expect(started.code).toBe(0);
      const id = started.stdout.trim();

      const keg = box.spawn(["python", "--reattach", id]);
      const stdout = new StreamText(keg.stdout);
      const stderr = new StreamText(keg.stderr);
      await stdout.waitFor(/^ready\n/);
      const script = Number(readIfThere(pidFile));

      keg.kill(signal);
      expect(await keg.exited).toBe(CODES[signal]);
      expect(keg.signalCode).toBeNull(); // keg chose its code: the signal did not kill it
      await stderr.done;
      expect(stderr.text).toBe(`\nkeg: stopped following; run ${id} goes on\n`);
      expect(isRunning(script)).toBe(true);
      const ps = JSON.parse((await box.run(["python", "ps", "--json"])).stdout) as { id: string; status: string }[];
      expect(ps).toContainEqual(expect.objectContaining({ id, status: "running" }));

      expect((await box.run(["python", "--kill", id])).code).toBe(0);
      await until(() => !isRunning(script), { deadlineMs: 10_000, what: "the run to end after --kill" });
    });
  }
});
