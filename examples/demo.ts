/**
 * `npm run demo`: a throw-away agent on 127.0.0.1, registered as box `local`;
 * runs examples/hello.py on it (live output, a record, a download) and shows
 * the locks. Leaves nothing running and nothing behind.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const keg = join(root, "dist", "keg");
const agentBin = join(root, "dist", "keg-agent");
const work = mkdtempSync(join(tmpdir(), "keg-demo-"));
const env: Record<string, string> = { ...(process.env as Record<string, string>), KEG_HOME: join(work, "home") };
delete env.NODE_ENV;

function show(args: string[]) {
  console.log(`\n$ keg ${args.join(" ")}`);
}

async function kegRun(args: string[], cwd = work): Promise<number> {
  show(args);
  const proc = Bun.spawn([keg, ...args], { cwd, env, stdio: ["inherit", "inherit", "inherit"] });
  return proc.exited;
}

const agent = Bun.spawn([agentBin, "serve", "--listen", "127.0.0.1:0", "--state-dir", join(work, "state"), "--name", "local"], {
  env,
  stdout: "pipe",
  stderr: "inherit",
});
try {
  const reader = agent.stdout.getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("keg-agent did not start");
    first += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = /listening on (\S+)/.exec(first)![1]!;
  console.log(`started ${first.trim()}`);
  const users = Bun.spawnSync([agentBin, "users", "add", "demo", "--state-dir", join(work, "state")], { env });
  const token = users.stdout.toString().trim();

  await kegRun(["boxes", "add", "--name", "local", "--address", url, "--token", token]);
  await kegRun(["boxes", "list"]);
  await kegRun(["python", "run", join(root, "examples", "hello.py"), "--box", "local", "--download", "result.csv"]);
  console.log(`(downloaded result.csv: ${JSON.stringify(readFileSync(join(work, "result.csv"), "utf8"))})`);
  await kegRun(["boxes", "lock", "--box", "local", "--note", "demo reservation"]);
  await kegRun(["boxes", "list"]);
  await kegRun(["boxes", "unlock", "--box", "local"]);
  await kegRun(["boxes", "history", "--box", "local"]);
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  rmSync(work, { recursive: true, force: true });
}
