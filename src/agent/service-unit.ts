/**
 * The systemd unit of `keg-agent install-service`: `serve` as root with
 * `--run-as`, restarted always, only the agent stopped on a restart (detached
 * runs live on), and sandboxed in a way that still lets scripts reach serial
 * and USB devices and `keg update` replace the executable (docs/cli.md
 * "keg-agent install-service").
 * @module
 */
import { dirname, join, relative } from "node:path";

export const UNIT_NAME = "keg-agent.service";
export const DEFAULT_RUN_AS = "keg";
/** The state dir of a service that names none: root's default (docs/cli.md "keg-agent serve"). */
export const SERVICE_STATE_DIR = "/var/lib/keg-agent";

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, "\\$1")}"`);

/** Folders the sandbox hides from the service: an executable there would not start. */
export function hiddenFromService(path: string): string | undefined {
  return ["/tmp", "/var/tmp", "/home", "/root", "/run/user"].find((dir) => path === dir || path.startsWith(`${dir}/`));
}

/** `executable serve WORDS` as a unit; `stateDir` is where serve keeps its state (absolute). */
export function serviceUnit(executable: string, words: string[], stateDir: string): string {
  const underVarLib = relative("/var/lib", stateDir);
  const stateLines =
    !underVarLib.startsWith("..") && underVarLib && !underVarLib.startsWith("/")
      ? [`StateDirectory=${underVarLib}`, "StateDirectoryMode=0700"]
      : [`ReadWritePaths=${quote(stateDir)}`];
  return `[Unit]
Description=keg agent: shared lab box service
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${[executable, "serve", ...words].map(quote).join(" ")}
Restart=always
RestartSec=2
# Only the agent is stopped on a restart: detached runs live on.
KillMode=process
${stateLines.join("\n")}
# Hardening that keeps devices reachable (no PrivateDevices) and lets
# 'keg update' replace the executable (its folder stays writable).
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${quote(dirname(executable))}
ProtectHome=yes
PrivateTmp=yes
RestrictSUIDSGID=yes

[Install]
WantedBy=multi-user.target
`;
}

/** Where the unit goes: /etc/systemd/system, or $KEG_SYSTEMD_DIR (tests, other layouts). */
export const unitPath = (env = process.env) => join(env.KEG_SYSTEMD_DIR || "/etc/systemd/system", UNIT_NAME);
