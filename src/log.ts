/**
 * Messages for people, on stderr, through consola's core entry (the full entry
 * costs tens of ms at start-up). stdout is a contract (run output, --json,
 * tokens), so nothing chatty goes there. The level is set
 * explicitly because consola mutes info when NODE_ENV=test.
 * @module
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";

const prefixes: Record<string, string> = { error: "Error: ", fatal: "Error: ", warn: "Warning: " };

let instance: ConsolaInstance | undefined;

/**
 * Made at the first message, not at start: a run that says nothing does not
 * pay for consola's set-up (nor for the first touch of process.stderr) before
 * its request leaves (docs/performance.md "Run overhead").
 */
export const log = (): ConsolaInstance =>
  (instance ??= createConsola({
    level: process.env.KEG_DEBUG ? 4 : 3,
    reporters: [
      {
        log(entry: LogObject) {
          const text = entry.args.map((arg) => (arg instanceof Error ? (arg.stack ?? arg.message) : String(arg))).join(" ");
          process.stderr.write(`${prefixes[entry.type] ?? ""}${text}\n`);
        },
      },
    ],
  }));

/** The one-line `Error: …` of docs/cli.md. */
export const printError = (message: string) => log().error(message);
export const warn = (message: string) => log().warn(message);
export const info = (message: string) => log().info(message);
