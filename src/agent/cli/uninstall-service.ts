/** `keg-agent uninstall-service`: removes the unit install-service wrote; the state dir stays (docs/cli.md "keg-agent uninstall-service"). @module */
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { defineCommand } from "../../dispatch.ts";
import { failure } from "../../errors.ts";
import { info } from "../../log.ts";
import { UNIT_NAME, unitPath } from "../service-unit.ts";

export const uninstallServiceCommand = defineCommand({
  meta: { name: "uninstall-service", description: "Remove the systemd unit of install-service (the state dir stays)" },
  args: {},
  async run() {
    const path = unitPath();
    if (!existsSync(path)) {
      info(`Nothing to remove: ${path} does not exist.`);
      return 0;
    }
    if (process.getuid?.() !== 0) throw failure(`uninstall-service removes ${path}: run it as root (sudo).`);
    // What `systemctl enable` made, so no dangling link is left.
    rmSync(join(dirname(path), "multi-user.target.wants", UNIT_NAME), { force: true });
    rmSync(path, { force: true });
    info(`Removed ${path}; the state dir and the system user are kept. Stop the running agent with:\n  systemctl stop keg-agent\n  systemctl daemon-reload`);
    return 0;
  },
});
