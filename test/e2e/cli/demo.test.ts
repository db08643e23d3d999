/** `npm run demo` shows the box list, runs hello.py, and leaves nothing running. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv } from "../../helpers/bin.ts";

setDefaultTimeout(60_000);

const root = join(import.meta.dir, "..", "..", "..");

function demoAgents(): string[] {
  const ps = Bun.spawnSync(["ps", "-eo", "pid=,args="]);
  return ps.stdout
    .toString()
    .split("\n")
    .filter((line) => line.includes("keg-agent") && line.includes("keg-demo-"));
}

test("the demo lists the box, runs hello.py with a record and a download, shows the locks, and leaves no process", async () => {
  const proc = Bun.spawn([process.execPath, join(root, "examples", "demo.ts")], { cwd: root, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  expect(stdout).toMatch(/Name\s+Address\s+User\s+Version\s+Status/);
  expect(stdout).toMatch(/local\s+http:\/\/127\.0\.0\.1:\d+\s+demo\s+\S+\s+current/);
  expect(stdout).toContain("measuring... 3/3");
  expect(stdout).toContain('downloaded result.csv: "voltage,current_ma\\n3.3,120\\n"');
  expect(stderr).toContain('[record json] {"voltage":3.3,"current_ma":120,"ok":true}');
  expect(stdout).toMatch(/Box 'local' locked by demo at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
  expect(stdout).toContain("Box 'local' unlocked");
  expect(stdout).toContain("took the command lock for 'python'");
  expect(stdout).toContain("released the command lock of 'python'");
  expect(demoAgents()).toEqual([]);
});
