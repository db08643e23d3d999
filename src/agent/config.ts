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
};
