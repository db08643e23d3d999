/** What `keg pip` does once its words are read: upload pip's local files, run pip on the box as a run (docs/cli.md "keg pip"). @module */
import { parseSeconds } from "../args.ts";
import { resolveBox } from "../config/boxes.ts";
import { packUpload } from "../client/pack.ts";
import { pipFiles } from "../client/pip-files.ts";
import { runAttached } from "../client/run-session.ts";
import { warn } from "../log.ts";
import { checkWordCount } from "./_run.ts";
import type { RunSpec } from "../wire/api.ts";

export async function startPip(args: { box?: string; wait?: string }, words: string[], force: boolean): Promise<number> {
  const wait = parseSeconds(args.wait, "wait");
  const box = resolveBox(args.box);
  const cwd = process.cwd();
  checkWordCount(words, "pip words");
  const files = pipFiles(words, cwd);
  const packed = await packUpload({ addFiles: [], entries: files.uploads });
  for (const message of packed.warnings) warn(message);
  const spec: RunSpec = { command: "pip", args: files.args, env: {}, timeout: 0, box: box.name, downloads: [], detach: false, force, wait };
  return runAttached(box, spec, packed.upload, { cwd });
}
