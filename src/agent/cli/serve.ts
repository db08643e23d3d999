/** `keg-agent serve`: the box's HTTP service (docs/cli.md "keg-agent serve"). @module */
import { hostname } from "node:os";
import { parsePositive, type ArgDefs, type ArgValues } from "../../args.ts";
import { agentStateDir } from "../../config/paths.ts";
import { usageError } from "../../errors.ts";
import { defineCommand } from "../../dispatch.ts";
import { VERSION } from "../../version.ts";
import type { AgentConfig } from "../config.ts";
import { parsePreload } from "../warm-python.ts";

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
  "run-as": { type: "string", description: "run scripts, pip and hooks as USER (when the agent runs as root)", valueHint: "USER" },
  "max-disk": { type: "string", description: "GiB of finished runs' folders kept, oldest pruned first (10)", valueHint: "GIB" },
  "log-format": { type: "string", description: "the agent's log lines on stderr: text or json (text)", valueHint: "FORMAT" },
  "container-runtime": { type: "string", description: "podman or docker for --image runs (the first that answers)", valueHint: "PATH" },
  "container-device": { type: "string", multiple: true, description: "a device passed into --image containers (repeatable)", valueHint: "PATH" },
  "reconnect-grace": { type: "string", description: "seconds an attached run waits for its dropped client to come back before it is stopped (15)", valueHint: "SECONDS" },
  "warm-python": { type: "boolean", description: "keep a started interpreter of the venv that forks each python run" },
  preload: { type: "string", description: "with --warm-python: modules the warm interpreter imports once", valueHint: "MODULE,..." },
} as const satisfies ArgDefs;

export type ServeArgs = ArgValues<typeof serveArgs>;

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || port > 65535) throw usageError(`--listen takes HOST:PORT (like 127.0.0.1:7350), not '${value}'.`);
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

function logFormat(value: string | undefined): "text" | "json" {
  if (value === undefined || value === "text" || value === "json") return value ?? "text";
  throw usageError(`--log-format takes text or json, not '${value}'.`);
}

function preloadOf(args: ServeArgs): string[] {
  if (args.preload !== undefined && !args["warm-python"]) throw usageError("--preload needs --warm-python: the modules are imported by the warm interpreter.");
  const names = parsePreload(args.preload);
  if (typeof names === "string") throw usageError(names);
  return names;
}

export function configFromArgs(args: ServeArgs): AgentConfig {
  const { host, port } = parseListen(args.listen ?? "0.0.0.0:7350");
  const positive = (name: keyof ServeArgs, fallback: number) => parsePositive(args[name] as string | undefined, name) ?? fallback;
  return {
    host,
    port,
    name: args.name ?? hostname(),
    stateDir: agentStateDir(args["state-dir"]),
    commandLockTtlSeconds: positive("command-lock-ttl", 1800),
    keepaliveSeconds: positive("keepalive", 20),
    maxUploadBytes: positive("max-upload", 256) * 1024 * 1024,
    logLimitBytes: positive("log-limit", 64) * 1024 * 1024,
    keepRunsDays: positive("keep-runs", 7),
    python: args.python ?? "python3",
    postRunHook: args["post-run-hook"],
    runAs: args["run-as"],
    maxDiskBytes: positive("max-disk", 10) * 1024 ** 3,
    logFormat: logFormat(args["log-format"]),
    containerRuntime: args["container-runtime"],
    containerDevices: args["container-device"],
    reconnectGraceSeconds: positive("reconnect-grace", 15),
    warmPython: args["warm-python"],
    preload: preloadOf(args),
  };
}

export const serveCommand = defineCommand({
  meta: { name: "serve", description: "Run the agent" },
  args: serveArgs,
  async run({ args }) {
    const config = configFromArgs(args);
    const { resolveRunUser } = await import("../run-user.ts");
    config.runUser = resolveRunUser(config.runAs);
    const { openState } = await import("../state.ts");
    const { startAgent } = await import("../server.ts");
    const { claimStateDir, waitForUsersWriter } = await import("../serve-claim.ts");
    const { configureAgentLog, logEvent } = await import("../log.ts");
    configureAgentLog(config.logFormat);
    const release = claimStateDir(config.stateDir);
    try {
      await waitForUsersWriter(config.stateDir, (pid) => logEvent("waiting", { for: `keg-agent users (pid ${pid}) changing the state` }));
    } catch (error) {
      release();
      throw error;
    }
    const state = openState(config.stateDir);
    // Handlers first: a signal right after the first line must still close LMDB cleanly.
    let updated!: () => void;
    const stopped = new Promise<"signal" | "updated">((resolve) => {
      process.once("SIGTERM", () => resolve("signal"));
      process.once("SIGINT", () => resolve("signal"));
      updated = () => resolve("updated");
    });
    const listener = startAgent(state, config, { onUpdated: () => updated() });
    process.stdout.write(`keg-agent ${VERSION} listening on ${listener.url}\n`);
    logEvent("agent-started", { version: VERSION, pid: process.pid, url: listener.url, name: config.name });
    if ((await stopped) === "updated") return (await import("../restart.ts")).restartAfterUpdate(listener, state, args);
    logEvent("agent-stopping", { pid: process.pid });
    await listener.stop();
    await state.close();
    release();
    return 0;
  },
});
