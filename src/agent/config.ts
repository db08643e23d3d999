import type { RunUser } from "./run-user.ts";

/** The settings of a running agent, from `keg-agent serve` flags (docs/cli.md "keg-agent serve", docs/api.md). @module */
export type AgentConfig = {
  name: string;
  stateDir: string;
  host: string;
  port: number;
  commandLockTtlSeconds: number;
  keepaliveSeconds: number;
  maxUploadBytes: number;
  logLimitBytes: number;
  keepRunsDays: number;
  python: string;
  postRunHook?: string;
  /** scripts, pip and hooks run as this user (the agent runs as root); undefined: as the agent itself */
  runAs?: string;
  /** `runAs` looked up, when the agent starts (src/agent/run-user.ts); unset: the agent's own user */
  runUser?: RunUser;
  /** finished runs' folders are pruned, oldest first, above this many bytes */
  maxDiskBytes: number;
  logFormat: "text" | "json";
  /** podman or docker for `--image` runs; undefined: the first of them whose `info` answers */
  containerRuntime?: string;
  /** devices passed into containers */
  containerDevices: string[];
  /** an attached run whose client's connection dropped is kept this long for it to come back (docs/usage.md "Connection blips") */
  reconnectGraceSeconds: number;
  /** keep a warm interpreter of the venv for python runs (docs/usage.md "Warm interpreter") */
  warmPython?: boolean;
  /** modules the warm interpreter imports once */
  preload?: string[];
};
