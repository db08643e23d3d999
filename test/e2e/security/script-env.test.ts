/**
 * A script's environment is a clean base, the KEG_* variables and what the
 * user passed, never the agent's own; values given with --env/--passenv never
 * reach the box's disk (docs/security.md "A script's environment").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runBox, StreamText } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

/** Every file under `dir` whose bytes hold `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // removed meanwhile
    }
    if (stat.isDirectory()) found.push(...filesHolding(path, needle));
    else if (stat.isFile()) {
      try {
        if (readFileSync(path).includes(needle)) found.push(path);
      } catch {}
    }
  }
  return found;
}

test.concurrent("the script sees the base, KEG_* and --env/--passenv, and none of the agent's own variables", async () => {
  await using box = await runBox(
    { "env.py": "import json, os\nprint(json.dumps(dict(os.environ)))\n" },
    { env: { AGENT_ONLY_SECRET: "agent-secret-value", LANG: "C.UTF-8" } },
  );
  const result = await box.run(["python", "run", "env.py", "--env", "GIVEN=1", "--passenv", "PASSED"], { env: { PASSED: "from-laptop" } });
  expect(result.code).toBe(0);
  const env = JSON.parse(result.stdout) as Record<string, string>;
  expect(Object.values(env)).not.toContain("agent-secret-value");
  expect(env.AGENT_ONLY_SECRET).toBeUndefined();
  expect(Object.keys(env).sort()).toEqual(
    ["GIVEN", "HOME", "KEG_BOX", "KEG_OUTPUT_CHANNEL", "KEG_PROCESS_ID", "KEG_RUNNABLE", "LANG", "LOGNAME", "PASSED", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONUNBUFFERED", "TMPDIR", "USER"].concat(
      // Kept from the agent when it has them (the tests' agents run with TZ=UTC); Python may add LC_CTYPE.
      ["TZ", "LC_CTYPE"].filter((name) => name in env),
    ).sort(),
  );
  expect({ GIVEN: env.GIVEN, PASSED: env.PASSED, LANG: env.LANG }).toEqual({ GIVEN: "1", PASSED: "from-laptop", LANG: "C.UTF-8" });
  expect(env.TMPDIR).toBe(join(box.agent.stateDir, "runs", env.KEG_PROCESS_ID!, "tmp"));
});

test.concurrent("--env and --passenv values are in no file under the state dir, while the run goes on or after it", async () => {
  await using box = await runBox({ "wait.py": "import os, time\nprint('ready', flush=True)\nwhile not os.path.exists(os.environ['GO']):\n    time.sleep(0.02)\n" });
  const go = box.dir.join("go");
  const proc = box.spawn(["python", "run", "wait.py", "--env", "TOKEN1=s3cr3t-env-value", "--passenv", "SECRET2", "--env", `GO=${go}`], {
    env: { SECRET2: "s3cr3t-passenv-value" },
  });
  const out = new StreamText(proc.stdout);
  await out.waitFor(/ready\n/);
  expect(filesHolding(box.agent.stateDir, "s3cr3t-")).toEqual([]);
  await Bun.write(go, "");
  expect(await proc.exited).toBe(0);
  expect(filesHolding(box.agent.stateDir, "s3cr3t-")).toEqual([]);
});
