/** `keg boxes …` (docs/cli.md "boxes"). @module */
import { defineCommand } from "../../dispatch.ts";

export const boxesCommand = defineCommand({
  meta: { name: "boxes", description: "Register, list and lock boxes" },
  subCommands: {
    add: () => import("./add.ts").then((m) => m.addCommand),
    remove: () => import("./remove.ts").then((m) => m.removeCommand),
    list: () => import("./list.ts").then((m) => m.listCommand),
    lock: () => import("./lock.ts").then((m) => m.lockCommand),
    unlock: () => import("./unlock.ts").then((m) => m.unlockCommand),
    history: () => import("./history.ts").then((m) => m.historyCommand),
  },
});
