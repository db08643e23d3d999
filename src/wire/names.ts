/** Names both sides check the same way: variable names and the signals a run may be sent (docs/cli.md). @module */

/** A variable name for `--env` and `--passenv`: letters, digits and `_`, not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const isEnvName = (name: string) => ENV_NAME.test(name);

/** The signals `keg python --kill ID --signal SIG` may send (docs/cli.md "python --kill"). */
export const KILL_SIGNALS = ["SIGINT", "SIGQUIT", "SIGABRT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGSTOP"] as const;
export type KillSignal = (typeof KILL_SIGNALS)[number];

export const isKillSignal = (name: string): name is KillSignal => (KILL_SIGNALS as readonly string[]).includes(name);
