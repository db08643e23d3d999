/** What `python run` and `exec` share: run options to a RunSpec, then the session (docs/cli.md "Run options"). @module */
import { parseSeconds, type ArgValues } from "../args.ts";
import { resolveBox } from "../config/boxes.ts";
import { KegError, usageError } from "../errors.ts";
import { checkDownloadTargets } from "../client/downloads.ts";
import { packUpload } from "../client/pack.ts";
import { preconnect } from "../platform/preconnect.ts";
import { parsePortSpecs } from "../client/port-spec.ts";
import { runAttached } from "../client/run-session.ts";
import { warn } from "../log.ts";
import type { RunSpec } from "../wire/api.ts";
import { isEnvName } from "../wire/names.ts";
import type { runArgs } from "./_args.ts";
import { MAX_LIST_ITEMS } from "../wire/limits.ts";

export type RunArgs = ArgValues<typeof runArgs>;

export function envFromOptions(args: Pick<RunArgs, "env" | "passenv">, env = process.env): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of args.env) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !isEnvName(name))
      throw usageError(`--env '${pair}' is not NAME=VALUE with a valid NAME (letters, digits, '_', not starting with a digit).`);
    result[name] = pair.slice(eq + 1);
  }
  for (const name of args.passenv) {
    if (!isEnvName(name)) throw usageError(`--passenv '${name}' is not a valid variable name.`);
    const value = env[name];
    if (value === undefined) warn(`--passenv ${name}: not set here, not passed.`);
    else result[name] = value;
  }
  return result;
}

/** `words`: the script's arguments (python) or the program and its arguments (exec). */
/** The box takes at most this many words for a run: say so here, in keg's words. */
export function checkWordCount(words: string[], what: string): void {
  if (words.length > MAX_LIST_ITEMS)
    throw usageError(`${words.length.toLocaleString("en-US")} ${what} are over the limit of ${MAX_LIST_ITEMS.toLocaleString("en-US")}. Pass them in a file instead.`);
}

export async function startRun(
  args: RunArgs,
  command: "python" | "exec",
  runnable: string | undefined,
  words: string[],
  force: boolean,
  python: { cold?: boolean } = {},
): Promise<number> {
  checkWordCount(words, command === "python" ? "script arguments" : "words of the command");
  const ports = parsePortSpecs(args.port);
  const env = envFromOptions(args);
  const timeout = parseSeconds(args.timeout, "timeout") ?? 0;
  const wait = parseSeconds(args.wait, "wait");
  const { download: downloads, detach } = args;
  if (detach && downloads.length) throw usageError("--download cannot be used with --detach: the run ends after keg has returned.");
  if (detach && ports.length) throw usageError("-p cannot be used with --detach: a forward needs keg attached. Forward later with 'keg python --reattach ID -p …'.");
  const box = resolveBox(args.box);
  preconnect(box.address);
  const cwd = process.cwd();
  checkDownloadTargets(downloads, cwd, args["allow-overwrite"]);
  // Listening comes before the upload: a busy local port fails before the box is asked for anything
  // (the session closes the forwards; an error before it ends keg, which closes them).
  const forwards = ports.length ? await (await import("../client/forwards.ts")).Forwards.open(ports) : undefined;
  const packed = await packUpload({ runnable, addFiles: args["add-file"] });
  for (const message of packed.warnings) warn(message);
  const spec: RunSpec = { command, entry: command === "python" ? packed.entry : undefined, args: words, env, timeout, box: box.name, downloads, detach, force, wait, image: args.image };
  // Sent only when asked for: an agent older than --cold refuses fields it does not know.
  if (python.cold) spec.cold = true;
  if (detach) {
    const { runDetached } = await import("../client/detach.ts");
    return runDetached(box, spec, packed.upload);
  }
  return runAttached(box, spec, packed.upload, { cwd, outputFile: args["output-file"], forwards });
}
