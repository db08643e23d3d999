/** `keg-agent install-service` and `uninstall-service`: a hardened systemd unit that runs `serve` as root with --run-as (docs/cli.md "keg-agent install-service"). */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { agentCommand } from "../../helpers/agent.ts";
import { agentBin } from "../../helpers/bin.ts";
import { tempDir } from "../../helpers/tmp.ts";

const HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "RestrictSUIDSGID=yes"];
const hasSystemdAnalyze = Boolean(Bun.which("systemd-analyze"));
const isRoot = process.getuid?.() === 0;
const exists = (db: string, name: string) => spawnSync("getent", [db, name], { stdio: "ignore" }).status === 0;

const throwaway = `kegt${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
afterAll(() => {
  if (exists("passwd", throwaway)) spawnSync("userdel", [throwaway]);
});

test("--print writes the unit with this binary, the serve flags (quoted where needed) and --run-as keg by default", async () => {
  const { stdout, code } = await agentCommand(["install-service", "--print", "--listen", "0.0.0.0:7350", "--name", "lab box", "--keepalive", "10"]);
  expect(code).toBe(0);
  expect(stdout).toContain(`ExecStart=${agentBin()} serve --listen 0.0.0.0:7350 --name "lab box" --keepalive 10 --run-as keg\n`);
  expect(stdout).toContain("Restart=always\n");
  // Detached runs must outlive a restart of the service.
  expect(stdout).toContain("KillMode=process\n");
  expect(stdout).toContain("StateDirectory=keg-agent\n");
  expect(stdout).toContain("WantedBy=multi-user.target");
});

test("--run-as and every hardening line are in the unit; the executable's folder is writable (for update); no PrivateDevices", async () => {
  const { stdout, code } = await agentCommand(["install-service", "--print", "--run-as", "labuser"]);
  expect(code).toBe(0);
  expect(stdout).toContain(`ExecStart=${agentBin()} serve --run-as labuser\n`);
  for (const line of HARDENING) expect(stdout).toContain(`${line}\n`);
  expect(stdout).toContain(`ReadWritePaths=${agentBin().replace(/\/keg-agent$/, "")}\n`);
  expect(stdout).not.toMatch(/^PrivateDevices/m);
});

test.skipIf(!hasSystemdAnalyze)("the printed unit passes systemd-analyze verify (skipped where systemd-analyze is missing)", async () => {
  using dir = tempDir("keg-unit-");
  for (const flags of [[], ["--run-as", "labuser", "--listen", "127.0.0.1:7351", "--name", "lab box", "--state-dir", "/srv/keg state"]]) {
    const { stdout, code } = await agentCommand(["install-service", "--print", ...flags]);
    expect(code).toBe(0);
    writeFileSync(dir.join("keg-agent.service"), stdout);
    const verify = spawnSync("systemd-analyze", ["verify", dir.join("keg-agent.service")], { encoding: "utf8" });
    expect({ status: verify.status, output: `${verify.stdout}${verify.stderr}`.split("\n").filter((line) => line.includes("keg-agent")) }).toEqual({ status: 0, output: [] });
  }
});

test("a state dir outside /var/lib is made absolute and writable by path; a relative one too", async () => {
  const { stdout, code } = await agentCommand(["install-service", "--print", "--state-dir", "rel/state"]);
  expect(code).toBe(0);
  expect(stdout).toMatch(/ExecStart=\S+ serve --state-dir \/\S+\/rel\/state --run-as keg\n/);
  expect(stdout).toMatch(/ReadWritePaths=\/\S+\/rel\/state\n/);
  expect(stdout).not.toContain("StateDirectory=");
  const under = await agentCommand(["install-service", "--print", "--state-dir", "/var/lib/keg-lab"]);
  expect(under.stdout).toContain("StateDirectory=keg-lab\n");
});

test("--print changes nothing: no user, no unit", async () => {
  using dir = tempDir("keg-systemd-");
  const { code } = await agentCommand(["install-service", "--print", "--run-as", throwaway], { KEG_SYSTEMD_DIR: dir.path });
  expect(code).toBe(0);
  expect(exists("passwd", throwaway)).toBe(false);
  expect(existsSync(dir.join("keg-agent.service"))).toBe(false);
});

test.skipIf(!isRoot)("install-service creates the user in the device groups, writes the unit and says how to start it; uninstall-service removes it and keeps the state dir (root only)", async () => {
  using dir = tempDir("keg-systemd-");
  using state = tempDir("keg-service-state-");
  const installed = await agentCommand(["install-service", "--run-as", throwaway, "--state-dir", state.path], { KEG_SYSTEMD_DIR: dir.path });
  expect({ code: installed.code, stdout: installed.stdout }).toEqual({ code: 0, stdout: "" });
  const groups = ["dialout", "plugdev"].filter((group) => exists("group", group));
  expect(installed.stderr).toContain(`Created system user '${throwaway}'`);
  expect(installed.stderr).toContain("systemctl daemon-reload\n");
  expect(installed.stderr).toContain("systemctl enable --now keg-agent\n");
  const id = spawnSync("id", ["-nG", throwaway], { encoding: "utf8" }).stdout.trim().split(" ");
  for (const group of groups) expect(id).toContain(group);
  const unit = readFileSync(dir.join("keg-agent.service"), "utf8");
  expect(unit).toContain(`--run-as ${throwaway}\n`);
  expect(statSync(dir.join("keg-agent.service")).mode & 0o777).toBe(0o644);

  // Installing again: the user exists and stays as it is; the unit is rewritten.
  const again = await agentCommand(["install-service", "--run-as", throwaway, "--state-dir", state.path], { KEG_SYSTEMD_DIR: dir.path });
  expect(again.code).toBe(0);
  expect(again.stderr).not.toContain("Created system user");

  mkdirSync(dir.join("multi-user.target.wants"));
  symlinkSync(dir.join("keg-agent.service"), dir.join("multi-user.target.wants", "keg-agent.service"));
  writeFileSync(state.join("kept"), "");
  const removed = await agentCommand(["uninstall-service"], { KEG_SYSTEMD_DIR: dir.path });
  expect(removed.code).toBe(0);
  expect(removed.stderr).toContain(`Removed ${dir.join("keg-agent.service")}`);
  expect(existsSync(dir.join("keg-agent.service"))).toBe(false);
  expect(existsSync(dir.join("multi-user.target.wants", "keg-agent.service"))).toBe(false);
  expect(existsSync(state.join("kept"))).toBe(true);
  expect(await agentCommand(["uninstall-service"], { KEG_SYSTEMD_DIR: dir.path })).toMatchObject({ code: 0, stderr: expect.stringContaining("Nothing to remove") });
});

test("a bad serve flag is refused before anything is written", async () => {
  using dir = tempDir("keg-systemd-");
  const never = `${throwaway}x`;
  const { stderr, code, stdout } = await agentCommand(["install-service", "--listen", "nope", "--run-as", never], { KEG_SYSTEMD_DIR: dir.path });
  expect(code).toBe(2);
  expect(stdout).toBe("");
  expect(stderr).toContain("--listen takes HOST:PORT");
  expect(existsSync(dir.join("keg-agent.service"))).toBe(false);
  expect(exists("passwd", never)).toBe(false);
});
