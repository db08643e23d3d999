/**
 * `serve --run-as USER` (the agent runs as root): scripts run as USER and
 * cannot read or write the LMDB, mint a token or look into another run's
 * spool, while their own work and tmp folders are theirs (docs/security.md
 * "What a script can reach"). Needs root and useradd, as on the test machines;
 * skipped (never passed) elsewhere.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentCommand } from "../../helpers/agent.ts";
import { agentBin } from "../../helpers/bin.ts";
import { childrenOf, runBox, servingPid } from "../../helpers/run.ts";
import { isAlive, until } from "../../helpers/until.ts";
import { buildWheel } from "../../helpers/wheel.ts";

setDefaultTimeout(60_000);

const canSwitch = process.getuid?.() === 0 && Bun.spawnSync(["sh", "-c", "command -v useradd && command -v setpriv"]).exitCode === 0;
const user = `kegrun${process.pid}`;
// Outside the tests' own 0700 temp root, so the run user can pass through to its run folder.
const root = canSwitch ? mkdtempSync("/tmp/keg-run-as-") : "";

beforeAll(() => {
  if (!canSwitch) return;
  chmodSync(root, 0o755);
  const made = Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
  if (made.exitCode !== 0) throw new Error(`useradd failed: ${made.stderr}`);
  copyFileSync(agentBin(), join(root, "keg-agent"));
  chmodSync(join(root, "keg-agent"), 0o755);
});

afterAll(() => {
  if (!canSwitch) return;
  Bun.spawnSync(["userdel", user]);
  rmSync(root, { recursive: true, force: true });
});

const PROBE = `
import json, os, subprocess, sys
state, agent, other = sys.argv[1:4]
def attempt(step):
    try:
        step()
        return "ok"
    except Exception as error:
        return type(error).__name__
report = {
    "uid": os.getuid(),
    "read_db": attempt(lambda: open(os.path.join(state, "db", "data.mdb"), "rb").read(1)),
    "write_db": attempt(lambda: open(os.path.join(state, "db", "x"), "w")),
    "list_state": attempt(lambda: os.listdir(state)),
    "list_runs": attempt(lambda: os.listdir(os.path.join(state, "runs"))),
    "other_spool": attempt(lambda: os.listdir(os.path.join(state, "runs", other, "spool"))),
    "other_exit": attempt(lambda: open(os.path.join(state, "runs", other, "exit.json")).read()),
    "own_spool": attempt(lambda: os.listdir("../spool")),
    "write_work": attempt(lambda: open("out.txt", "w").write("mine\\n")),
    "write_tmp": attempt(lambda: open(os.path.join(os.environ["TMPDIR"], "t"), "w").write("x")),
    "mint": subprocess.run([agent, "users", "add", "mallory", "--state-dir", state], capture_output=True).returncode,
}
print(json.dumps(report))
`;

test.skipIf(!canSwitch)("a script run as USER reaches its own folders and nothing of the agent's", async () => {
  const stateDir = join(root, "state");
  await using box = await runBox({ "probe.py": PROBE, "hello.py": "print('hi')\n" }, { stateDir, args: ["--run-as", user, "--python", "/usr/bin/python3"] });
  expect(box.agent.output()).toMatch(new RegExp(`event=scripts-run-as user=${user} uid=\\d+ own_rights=false`));
  expect((await box.run(["python", "run", "hello.py"])).stdout).toBe("hi\n");
  const first = JSON.parse((await box.run(["python", "ps", "--json"])).stdout)[0].id as string;

  const result = await box.run(["python", "run", "probe.py", stateDir, join(root, "keg-agent"), first, "--download", "out.txt"]);
  expect(result.code).toBe(0);
  const { mint, ...report } = JSON.parse(result.stdout);
  // keg-agent run by the script cannot open the LMDB: no token is minted.
  expect(mint).not.toBe(0);
  const uid = Number(Bun.spawnSync(["id", "-u", user]).stdout.toString());
  expect(report).toEqual({
    uid,
    read_db: "PermissionError",
    write_db: "PermissionError",
    list_state: "PermissionError",
    list_runs: "PermissionError",
    other_spool: "PermissionError",
    other_exit: "PermissionError",
    own_spool: "PermissionError",
    write_work: "ok",
    write_tmp: "ok",
  });
  expect(await Bun.file(box.dir.join("out.txt")).text()).toBe("mine\n");
  const users = await agentCommand(["users", "list", "--state-dir", stateDir]);
  expect(users.stdout).not.toContain("mallory");
});

test.skipIf(!canSwitch)("--run-as root or an unknown user is refused at start (exit 2)", async () => {
  for (const [name, says] of [
    ["root", "that is root"],
    ["no-such-user-keg", "no user 'no-such-user-keg'"],
  ]) {
    const result = await agentCommand(["serve", "--listen", "127.0.0.1:0", "--state-dir", join(root, `refused-${name}`), "--run-as", name]);
    expect({ code: result.code, says: result.stderr.includes(says) }).toEqual({ code: 2, says: true });
  }
});

test.skipIf(!canSwitch)("with --run-as the box's venv belongs to USER: pip installs into it as USER, and runs import it", async () => {
  const stateDir = join(root, "state-pip");
  // The system's python, as a service's box has it (this machine's pyenv one lives under /root).
  await using box = await runBox({ "use.py": "import os, kegowned\nprint(kegowned.VALUE, os.getuid())\n" }, { stateDir, args: ["--run-as", user, "--python", "/usr/bin/python3"] });
  const wheel = buildWheel(box.dir.path, "kegowned");
  const install = await box.run(["pip", "install", "--no-index", `./${wheel}`]);
  expect(install.stderr).not.toContain("ERROR");
  expect(install.code).toBe(0);
  const uid = Number(Bun.spawnSync(["id", "-u", user]).stdout.toString());
  expect(statSync(join(stateDir, "venv", "bin", "python")).uid).toBe(0); // the base interpreter, through the link
  expect(lstatSync(join(stateDir, "venv", "bin", "python")).uid).toBe(uid);
  expect((await box.run(["python", "run", "use.py"])).stdout).toBe(`kegowned works ${uid}\n`);
});

test.skipIf(!canSwitch)("with --run-as, a script that swaps the venv's python never gets the agent to run it as root", async () => {
  const stateDir = join(root, "state-trojan");
  const log = join(root, "trojan.log");
  // Replaces the venv's python with a script that records who ran it, then runs the real one.
  const swap = [
    "import os, sys",
    "venv_python = os.path.join(sys.argv[1], 'venv', 'bin', 'python')",
    "real = os.path.realpath(venv_python)",
    "os.remove(venv_python)",
    "open(venv_python, 'w').write('#!/bin/sh\\necho \"$(id -u) $*\" >> ' + sys.argv[2] + '\\nexec ' + real + ' \"$@\"\\n')",
    "os.chmod(venv_python, 0o755)",
    "print('swapped')",
    "",
  ].join("\n");
  await using box = await runBox({ "swap.py": swap }, { stateDir, args: ["--run-as", user, "--python", "/usr/bin/python3"] });
  writeFileSync(log, "");
  chmodSync(log, 0o666);
  expect((await box.run(["python", "run", "swap.py", stateDir, log])).stdout).toBe("swapped\n");
  const pip = await box.run(["pip", "--version"]);
  expect(pip.code).toBe(0);
  const uid = Number(Bun.spawnSync(["id", "-u", user]).stdout.toString());
  const callers = readFileSync(log, "utf8").trim().split("\n").map((line) => Number(line.split(" ")[0]));
  expect(callers.length).toBeGreaterThan(0);
  expect(callers.every((caller) => caller === uid)).toBe(true);
});

/** What a script tries against the warm interpreter's socket (docs/security.md "Warm interpreter"). */
const PROBE_WARM = `
import glob, json, os, socket, sys
state = sys.argv[1]
def attempt(step):
    try:
        return step()
    except Exception as error:
        return type(error).__name__
print(json.dumps({
    "uid": os.getuid(),
    "list_warm": attempt(lambda: os.listdir(os.path.join(state, "warm"))),
    "sockets": attempt(lambda: glob.glob(os.path.join(state, "warm", "*"))),
    "ppid_is_runner": attempt(lambda: open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")[1].endswith(b"keg_warm.py")),
}))
`;

test.skipIf(!canSwitch)("with --warm-python the warm runs are USER's, the socket is out of USER's reach, and a forged answer only makes a run start cold", async () => {
  const stateDir = join(root, "state-warm");
  await using box = await runBox({ "probe.py": PROBE_WARM, "who.py": "import os\nprint(os.getuid())\n" }, { stateDir, args: ["--run-as", user, "--python", "/usr/bin/python3", "--warm-python"] });
  const uid = Number(Bun.spawnSync(["id", "-u", user]).stdout.toString());
  const probe = await box.run(["python", "run", "probe.py", stateDir]);
  expect(probe.stderr).toBe("");
  expect(JSON.parse(probe.stdout)).toEqual({ uid, list_warm: "PermissionError", sockets: [], ppid_is_runner: true });
  expect(statSync(join(stateDir, "warm")).uid).toBe(0);
  expect(statSync(join(stateDir, "warm")).mode & 0o777).toBe(0o700);

  // A forkserver that lies (as a compromised one would): it names the agent's own process.
  const [socket] = readdirSync(join(stateDir, "warm")).filter((name) => name.endsWith(".sock"));
  const path = join(stateDir, "warm", socket!);
  // The spare supervisor has taken a runner ahead of its run, and the forkserver has forked the next spare.
  const forkserver = servingPid(box.agent.output());
  const runners = await until(() => (childrenOf(forkserver).length === 2 ? childrenOf(forkserver) : undefined), { what: "a runner taken ahead and a spare" });
  rmSync(path);
  const forger = Bun.listen({
    unix: path,
    socket: { open: (conn) => void conn.write(`spare ${box.agent.pid} ${box.agent.pid} 0 1 2\n`), data() {} },
  });
  // Both runners gone: the run's supervisor connects again, to the forger now at the socket's path.
  for (const runner of runners) process.kill(runner, "SIGKILL");
  try {
    const forged = await box.run(["python", "run", "who.py"]);
    expect({ code: forged.code, stdout: forged.stdout, stderr: forged.stderr }).toEqual({ code: 0, stdout: `${uid}\n`, stderr: "" });
  } finally {
    forger.stop(true);
  }
  expect(box.agent.output()).toMatch(/ event=warm-fallback run=[0-9a-f-]{36} cause="the runner \d+ is not the run user's"/);
  const runs = JSON.parse((await box.run(["python", "ps", "--json"])).stdout) as { warm: boolean }[];
  expect(runs.map((run) => run.warm)).toEqual([true, false]);
  expect(isAlive(box.agent.pid)).toBe(true);
});
