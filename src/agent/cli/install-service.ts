/** `keg-agent install-service`: a systemd unit that runs `serve` (docs/cli.md "keg-agent install-service"). @module */
import { resolve } from "node:path";
import { info, warn } from "../../log.ts";
import { defineCommand } from "../../dispatch.ts";
import { failure } from "../../errors.ts";
import { writeFileAtomically } from "../../files/atomic-write.ts";
import { writeOut } from "../../stdout.ts";
import { DEFAULT_RUN_AS, hiddenFromService, SERVICE_STATE_DIR, serviceUnit, unitPath } from "../service-unit.ts";
import { ensureSystemUser } from "../system-user.ts";
import { configFromArgs, serveArgs } from "./serve.ts";
import { serveWords } from "./serve-words.ts";

export const installServiceCommand = defineCommand({
  meta: { name: "install-service", description: "Write a systemd unit for 'serve' as root with --run-as (or print it)" },
  args: { print: { type: "boolean", description: "print the unit to stdout and change nothing" }, ...serveArgs },
  async run({ args }) {
    const { print, ...given } = args;
    // A unit runs in /: a relative state dir would mean another folder there.
    const serve = { ...given, "run-as": given["run-as"] ?? DEFAULT_RUN_AS, "state-dir": given["state-dir"] && resolve(given["state-dir"]) };
    configFromArgs(serve); // refuse bad serve flags before writing anything
    const executable = process.execPath;
    const hidden = hiddenFromService(executable);
    if (hidden) warn(`${executable} is under ${hidden}, which the service's sandbox hides: move keg-agent to /usr/local/bin (or /opt) and install from there.`);
    const unit = serviceUnit(executable, serveWords(serve), serve["state-dir"] ?? SERVICE_STATE_DIR);
    if (print) return writeOut(unit);

    if (process.getuid?.() !== 0)
      throw failure(`install-service writes ${unitPath()} and may create user '${serve["run-as"]}': run it as root (sudo), or see the unit with --print.`);
    const user = ensureSystemUser(serve["run-as"]);
    if (user.created) info(`Created system user '${serve["run-as"]}'${user.groups.length ? ` in ${user.groups.join(", ")}` : ""}`);
    writeFileAtomically(unitPath(), unit, { mode: 0o644 });
    info(`Wrote ${unitPath()}. Start it with:\n  systemctl daemon-reload\n  systemctl enable --now keg-agent`);
    return 0;
  },
});
