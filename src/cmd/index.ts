/** The keg command tree; each command module is loaded only when used. @module */
import { defineCommand } from "citty";
import { VERSION } from "../version.ts";

export const commandTree = defineCommand({
  meta: { name: "keg", version: VERSION, description: "Run scripts on shared lab boxes" },
  subCommands: {
    boxes: () => import("./boxes/index.ts").then((m) => m.boxesCommand),
    python: () => import("./python/index.ts").then((m) => m.pythonCommand),
    exec: () => import("./exec.ts").then((m) => m.execCommand),
  },
});
