/**
 * keg under Deno (docs/development.md "Runtimes"): the smoke scenario run by
 * `deno run` gives the Bun binaries' exit codes and messages, and each
 * runtime's CLI works with the other's agent on a state dir the other wrote.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { agentBin, binDir, kegBin } from "../helpers/bin.ts";
import { binaryRuntime, checkScenario, denoExecutable, denoRuntime, runScenario, type Step } from "./scenario.ts";

setDefaultTimeout(120_000);

const denoVersion = spawnSync(denoExecutable(), ["--version"], { encoding: "utf8" });
const denoStarts = denoVersion.status === 0;
if (!denoStarts) console.warn(`Deno tests skipped: the pinned deno (${denoExecutable()}) does not start here: ${denoVersion.error?.message ?? denoVersion.stderr}. Run 'npm install'.`);

const bun = () => {
  kegBin(), agentBin(); // fail clearly without a build
  return binaryRuntime(binDir());
};

/** What the reopening agent answers from the other's state dir: its lock history and its runs. */
const reopened = (steps: Step[]) => steps.filter((s) => s.step.includes("reopened")).map(({ code, stdout, stderr }) => ({ code, stdout, stderr }));
const keptState = [
  { code: 0, stdout: `${"command-taken alice\ncommand-released alice\n".repeat(3)}locked alice\nunlocked alice\n`, stderr: "" },
  { code: 0, stdout: "hold.py 4\nhold.py 4\nlive.py 3\n", stderr: "" },
];

describe.skipIf(!denoStarts)("Deno", () => {
  test.concurrent("deno:smoke passes, and its exit codes and messages equal those of the Bun binaries", async () => {
    const [underDeno, underBun] = await Promise.all([runScenario(denoRuntime(), denoRuntime()), runScenario(bun(), bun())]);
    expect(checkScenario(underDeno)).toEqual([]);
    expect(underDeno).toEqual(underBun);
  });

  test.concurrent("the Bun-compiled keg against a Deno-run agent, on a state dir the Bun agent wrote and then reopens", async () => {
    const steps = await runScenario(bun(), denoRuntime(), { stateFrom: bun(), reopenWith: bun() });
    expect(checkScenario(steps)).toEqual([]);
    expect(reopened(steps)).toEqual(keptState);
  });

  test.concurrent("a Deno-run keg against the Bun-compiled agent, on a state dir the Deno agent wrote and then reopens", async () => {
    const steps = await runScenario(denoRuntime(), bun(), { stateFrom: denoRuntime(), reopenWith: denoRuntime() });
    expect(checkScenario(steps)).toEqual([]);
    expect(reopened(steps)).toEqual(keptState);
  });
});
