/** Options shared by several commands (nuxt/cli's _shared.ts). @module */
import type { OptionDefs } from "../args.ts";

export const boxArgs = {
  box: { type: "string", description: "box name or agent address (default $KEG_BOX)", valueHint: "NAME" },
} as const satisfies OptionDefs;

export const jsonArgs = {
  json: { type: "boolean", description: "print JSON" },
} as const satisfies OptionDefs;

export const waitArgs = {
  wait: { type: "string", description: "queue up to SECONDS if the box is busy or locked (0 = no limit)", valueHint: "SECONDS" },
} as const satisfies OptionDefs;
