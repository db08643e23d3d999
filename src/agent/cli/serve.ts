/** `keg-agent serve`: the box's HTTP service (SPEC §3). @module */
import { hostname } from "node:os";
import { parseWords, stringOption, type OptionDefs } from "../../args.ts";
import { agentStateDir } from "../../config/paths.ts";
import { usageError } from "../../errors.ts";
import { defineKegCommand, type RunContext } from "../../dispatch.ts";
import { VERSION } from "../../version.ts";
import type { AgentConfig } from "../config.ts";

export const serveArgs = {
  listen: { type: "string", description: "address to listen on (port 0 picks a free one)", valueHint: "HOST:PORT" },
  "state-dir": { type: "string", description: "where state, runs and logs live", valueHint: "DIR" },
  name: { type: "string", description: "this box's name", valueHint: "NAME" },
  "command-lock-ttl": { type: "string", description: "seconds without activity before a command lock is stale (1800)", valueHint: "SECONDS" },
  keepalive: { type: "string", description: "seconds of silence before a keepalive frame (20)", valueHint: "SECONDS" },
  "max-upload": { type: "string", description: "largest upload in MiB (256)", valueHint: "MIB" },
  "log-limit": { type: "string", description: "output kept per run in MiB (64)", valueHint: "MIB" },
  "keep-runs": { type: "string", description: "days finished runs are kept (7)", valueHint: "DAYS" },
  python: { type: "string", description: "interpreter for the managed venv (python3)", valueHint: "PATH" },
  "post-run-hook": { type: "string", description: "shell command run after each run", valueHint: "COMMAND" },
} as const satisfies OptionDefs;

function positiveNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw usageError(`--${flag} takes a positive number, not '${value}'.`);
  return Number(value);
}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || port > 65535) throw usageError(`--listen takes HOST:PORT (like 127.0.0.1:7350), not '${value}'.`);
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

export function configFromWords(words: string[]): AgentConfig {
  const parsed = parseWords(words, serveArgs);
  if (parsed.positionals.length) throw usageError(`Unexpected word '${parsed.positionals[0]}'. See 'keg-agent serve --help'.`);
  const get = (name: keyof typeof serveArgs) => stringOption(parsed, name);
  const { host, port } = parseListen(get("listen") ?? "0.0.0.0:7350");
  return {
    host,
    port,
    name: get("name") ?? hostname(),
    stateDir: agentStateDir(get("state-dir")),
    commandLockTtlSeconds: positiveNumber(get("command-lock-ttl"), "command-lock-ttl", 1800),
    keepaliveSeconds: positiveNumber(get("keepalive"), "keepalive", 20),
    maxUploadBytes: positiveNumber(get("max-upload"), "max-upload", 256) * 1024 * 1024,
    logLimitBytes: positiveNumber(get("log-limit"), "log-limit", 64) * 1024 * 1024,
    keepRunsDays: positiveNumber(get("keep-runs"), "keep-runs", 7),
    python: get("python") ?? "python3",
    postRunHook: get("post-run-hook"),
  };
}

export const serveCommand = defineKegCommand({
  meta: { name: "serve", description: "Run the agent" },
  args: serveArgs,
  async run({ words }: RunContext) {
    const config = configFromWords(words);
    const { openState } = await import("../state.ts");
    const { startAgent } = await import("../server.ts");
    const { claimStateDir } = await import("../serve-claim.ts");
    const release = claimStateDir(config.stateDir);
    const state = openState(config.stateDir);
    // Handlers first: a signal right after the first line must still close LMDB cleanly.
    const stopped = new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    const listener = startAgent(state, config);
    process.stdout.write(`keg-agent ${VERSION} listening on ${listener.url}\n`);
    await stopped;
    await listener.stop();
    await state.close();
    release();
    return 0;
  },
});
