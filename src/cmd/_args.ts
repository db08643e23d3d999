/** Options shared by several commands (nuxt/cli's _shared.ts). @module */
import type { ArgDefs } from "../args.ts";

export const boxArgs = {
  box: { type: "string", description: "box name or agent address (default $KEG_BOX)", valueHint: "NAME" },
} as const satisfies ArgDefs;

export const jsonArgs = {
  json: { type: "boolean", description: "print JSON" },
} as const satisfies ArgDefs;

export const waitArgs = {
  wait: { type: "string", description: "queue up to SECONDS if the box is busy or locked (0 = no limit)", valueHint: "SECONDS" },
} as const satisfies ArgDefs;

export const runArgs = {
  ...boxArgs,
  env: { type: "string", multiple: true, description: "set a variable for the script (repeatable)", valueHint: "K=V" },
  passenv: { type: "string", multiple: true, description: "pass VAR from this environment (repeatable)", valueHint: "VAR" },
  timeout: { type: "string", description: "stop the run after SECONDS (0 = none): exit 124, or 137 if it must be killed", valueHint: "SECONDS" },
  detach: { type: "boolean", alias: "d", description: "return once started; print the run id" },
  download: { type: "string", multiple: true, description: "after the run, copy FILE from the box here (repeatable)", valueHint: "FILE" },
  "allow-overwrite": { type: "boolean", description: "let --download replace a local file" },
  port: { type: "string", alias: "p", multiple: true, description: "forward 127.0.0.1:DST here to the box's SRC while the run lasts", valueHint: "SRC[:DST][/tcp|udp]" },
  "add-file": { type: "string", multiple: true, description: "upload FILE next to the script (repeatable)", valueHint: "FILE" },
  image: { type: "string", description: "run in a container on the box", valueHint: "IMAGE" },
  "output-file": { type: "string", description: "write each structured record as a JSON line", valueHint: "PATH" },
  ...waitArgs,
} as const satisfies ArgDefs;
