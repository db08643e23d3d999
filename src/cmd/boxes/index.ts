import { defineKegCommand } from "../../dispatch.ts";
/** `keg boxes …` (SPEC §4, §5). @module */

export const boxesCommand = defineKegCommand({
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
