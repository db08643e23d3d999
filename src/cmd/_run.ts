/** What `python run` and `exec` share: run options to a RunSpec, then the session (SPEC §4). @module */
import { listOption, secondsOption, stringOption, type Parsed } from "../args.ts";
import { resolveBox } from "../config/boxes.ts";
import { KegError, usageError } from "../errors.ts";
import { checkDownloadTargets } from "../client/downloads.ts";
import { packUpload } from "../client/pack.ts";
import { runAttached } from "../client/run-session.ts";
import { warn } from "../log.ts";
import type { RunSpec } from "../wire/api.ts";
import { isEnvName } from "../wire/names.ts";

export function envFromOptions(parsed: Parsed, env = process.env): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of listOption(parsed, "env")) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !isEnvName(name))
      throw usageError(`--env '${pair}' is not NAME=VALUE with a valid NAME (letters, digits, '_', not starting with a digit).`);
    result[name] = pair.slice(eq + 1);
  }
  for (const name of listOption(parsed, "passenv")) {
    if (!isEnvName(name)) throw usageError(`--passenv '${name}' is not a valid variable name.`);
    const value = env[name];
    if (value === undefined) warn(`--passenv ${name}: not set here, not passed.`);
    else result[name] = value;
  }
  return result;
}

function refuseUnbuilt(parsed: Parsed): void {
  for (const name of ["port", "image"] as const) {
    if (parsed.options[name] !== undefined) throw new KegError("failed", `--${name} is not available in this keg version yet.`);
  }
}

export async function startRun(parsed: Parsed, command: "python" | "exec", runnable: string | undefined, args: string[], force: boolean): Promise<number> {
  refuseUnbuilt(parsed);
  const env = envFromOptions(parsed);
  const timeout = secondsOption(parsed, "timeout") ?? 0;
  const wait = secondsOption(parsed, "wait");
  const downloads = listOption(parsed, "download");
  const detach = Boolean(parsed.options.detach);
  if (detach && downloads.length) throw usageError("--download cannot be used with --detach: the run ends after keg has returned.");
  const box = resolveBox(stringOption(parsed, "box"));
  const cwd = process.cwd();
  checkDownloadTargets(downloads, cwd, Boolean(parsed.options["allow-overwrite"]));
  const upload = await packUpload({ runnable, addFiles: listOption(parsed, "add-file") });
  for (const message of upload.warnings) warn(message);
  const spec: RunSpec = { command, entry: command === "python" ? upload.entry : undefined, args, env, timeout, box: box.name, downloads, detach, force, wait };
  if (detach) {
    const { runDetached } = await import("../client/detach.ts");
    return runDetached(box, spec, upload.zip);
  }
  return runAttached(box, spec, upload.zip, { cwd, outputFile: stringOption(parsed, "output-file") });
}
