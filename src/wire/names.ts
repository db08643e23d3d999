/** Names both sides check the same way: variable names and the signals a run may be sent (docs/cli.md). @module */

/** A variable name for `--env` and `--passenv`: letters, digits and `_`, not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const isEnvName = (name: string) => ENV_NAME.test(name);

/** The signals `keg python --kill ID --signal SIG` may send (docs/cli.md "python --kill"). */
export const KILL_SIGNALS = ["SIGINT", "SIGQUIT", "SIGABRT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGSTOP"] as const;
export type KillSignal = (typeof KILL_SIGNALS)[number];

export const isKillSignal = (name: string): name is KillSignal => (KILL_SIGNALS as readonly string[]).includes(name);

/** Longest name of one file or folder (Linux's NAME_MAX, in bytes). */
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/**
 * What is wrong with `name` as a relative path inside a run folder (a zip
 * entry, the script to run), or undefined: no NUL, backslash, absolute path,
 * drive letter, `.`/`..`/empty segment, nor a name the file system refuses.
 */
export function relativePathProblem(name: string): string | undefined {
  if (name.includes("\0")) return "has a NUL byte";
  if (name.includes("\\")) return "has a backslash";
  if (name.startsWith("/")) return "is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "starts with a drive letter";
  const parts = name.replace(/\/$/, "").split("/");
  if (parts.includes("..")) return "has a '..' segment";
  if (parts.includes(".")) return "has a '.' segment";
  if (parts.includes("")) return "has an empty path segment";
  const bytes = (text: string) => new TextEncoder().encode(text).length;
  if (parts.some((part) => bytes(part) > MAX_SEGMENT_BYTES)) return `has a name over ${MAX_SEGMENT_BYTES} bytes`;
  if (bytes(name) > MAX_PATH_BYTES) return `is over ${MAX_PATH_BYTES} bytes`;
  return undefined;
}

/** A run id, as the agent makes them (crypto.randomUUID: a lowercase UUID v4). */
export const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
