/**
 * `npm run deno:smoke`: the agent under `deno run -A src/agent-main.ts`,
 * driven by `deno run -A src/cli.ts` through the smoke scenario
 * (scenario.ts). Runs under Deno or Bun; exit 1 when a step is wrong.
 * @module
 */
import { checkScenario, denoRuntime, runScenario } from "./scenario.ts";

const started = performance.now();
const steps = await runScenario(denoRuntime(), denoRuntime());
const wrong = checkScenario(steps);
for (const step of steps) console.log(`${wrong.some((w) => w.startsWith(`${step.step}:`)) ? "FAIL" : "ok  "} ${step.step} (exit ${step.code})`);
for (const line of wrong) console.error(line);
console.log(`deno smoke: ${wrong.length ? `${wrong.length} wrong` : "passed"} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(wrong.length ? 1 : 0);
