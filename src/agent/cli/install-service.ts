/** `keg-agent install-service`: a systemd unit that runs `serve` (docs/cli.md "keg-agent install-service"). @module */
import { info } from "../../log.ts";
import { writeFileSync } from "node:fs";
import { defineCommand } from "../../dispatch.ts";
import { writeOut } from "../../stdout.ts";
import { configFromArgs, serveArgs, type ServeArgs } from "./serve.ts";

const UNIT_PATH = "/etc/systemd/system/keg-agent.service";

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, "\\$1")}"`);

/** The serve flags that were given, as words, in their declared order. */
export function serveWords(args: ServeArgs): string[] {
  return Object.keys(serveArgs).flatMap((name) => {
    const value = args[name as keyof ServeArgs];
    return [value ?? []].flat().flatMap((one) => [`--${name}`, one]);
  });
}

export function serviceUnit(executable: string, words: string[]): string {
  return `[Unit]
Description=keg agent: shared lab box service
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${[executable, "serve", ...words].map(quote).join(" ")}
Restart=on-failure
RestartSec=2
KillMode=process

[Install]
WantedBy=multi-user.target
`;
}

export const installServiceCommand = defineCommand({
  meta: { name: "install-service", description: "Write a systemd unit for 'serve' (or print it)" },
  args: { print: { type: "boolean", description: "print the unit instead of installing it" }, ...serveArgs },
  async run({ args }) {
    const { print, ...serve } = args;
    configFromArgs(serve); // refuse bad serve flags before writing anything
    const unit = serviceUnit(process.execPath, serveWords(serve));
    if (print) return writeOut(unit);
    writeFileSync(UNIT_PATH, unit, { mode: 0o644 });
    info(`Wrote ${UNIT_PATH}. Start it with: systemctl daemon-reload && systemctl enable --now keg-agent`);
    return 0;
  },
});
