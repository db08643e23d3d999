/** `keg-agent install-service`: a systemd unit that runs `serve` (SPEC §3). @module */
import { info } from "../../log.ts";
import { writeFileSync } from "node:fs";
import { parseWords } from "../../args.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { configFromWords, serveArgs } from "./serve.ts";

const UNIT_PATH = "/etc/systemd/system/keg-agent.service";

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, "\\$1")}"`);

export function serviceUnit(executable: string, serveWords: string[]): string {
  return `[Unit]
Description=keg agent: shared lab box service
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${[executable, "serve", ...serveWords].map(quote).join(" ")}
Restart=on-failure
RestartSec=2
KillMode=process

[Install]
WantedBy=multi-user.target
`;
}

export const installServiceCommand = defineKegCommand({
  meta: { name: "install-service", description: "Write a systemd unit for 'serve' (or print it)" },
  args: { print: { type: "boolean", description: "print the unit instead of installing it" }, ...serveArgs },
  async run({ words }: RunContext) {
    const parsed = parseWords(words, { print: { type: "boolean" }, ...serveArgs });
    const serveWords = words.filter((w) => w !== "--print");
    configFromWords(serveWords); // refuse bad serve flags before writing anything
    const unit = serviceUnit(process.execPath, serveWords);
    if (parsed.options.print) {
      process.stdout.write(unit);
      return 0;
    }
    writeFileSync(UNIT_PATH, unit, { mode: 0o644 });
    info(`Wrote ${UNIT_PATH}. Start it with: systemctl daemon-reload && systemctl enable --now keg-agent`);
    return 0;
  },
});
