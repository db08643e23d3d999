/** The keg command tree; each command module is loaded only when used. @module */
import { defineCommand } from "../dispatch.ts";
import { VERSION } from "../version.ts";

export const commandTree = defineCommand({
  meta: {
    name: "keg",
    version: VERSION,
    description: "Run scripts on shared lab boxes. Anywhere on a command line, --force-command bypasses the command lock and user locks",
  },
  subCommands: {
    boxes: () => import("./boxes/index.ts").then((m) => m.boxesCommand),
    python: () => import("./python/index.ts").then((m) => m.pythonCommand),
    exec: () => import("./exec.ts").then((m) => m.execCommand),
    update: () => import("./update.ts").then((m) => m.updateCommand),
  },
});
