/**
 * The CLI's box registry, `boxes.json` in the config home. Every change is a
 * read-modify-write under a lock file, written to a temp file and renamed, so
 * concurrent keg processes lose nothing and never leave a torn file.
 * @module
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { failure, KegError, usageError } from "../errors.ts";
import { writeFileAtomically } from "../files/atomic-write.ts";
import { withFileLock } from "./file-lock.ts";
import { kegHome } from "./paths.ts";

export type Box = {
  name: string;
  address: string;
  token: string;
  user?: string;
  version?: string;
};

type BoxesFile = { boxes: Box[] };

const boxesPath = () => join(kegHome(), "boxes.json");

export function readBoxes(): Box[] {
  let text: string;
  try {
    text = readFileSync(boxesPath(), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as BoxesFile;
    return Array.isArray(parsed.boxes) ? parsed.boxes : [];
  } catch {
    throw failure(`${boxesPath()} is not valid JSON. Fix or remove it.`);
  }
}

/** Applies `change` to the current list under the lock and saves the result. */
export async function updateBoxes(change: (boxes: Box[]) => Box[]): Promise<void> {
  mkdirSync(kegHome(), { recursive: true, mode: 0o700 });
  await withFileLock(`${boxesPath()}.lock`, () => {
    const boxes = change(readBoxes());
    writeFileAtomically(boxesPath(), `${JSON.stringify({ boxes }, null, 2)}\n`);
  });
}

/** A box name: letters, digits, '.', '_' or '-', at most 64 (docs/cli.md "boxes add"). */
export const validBoxName = (name: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);

export const isAddress = (value: string) => /^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(value);

/** The box a command targets: `--box`, else `$KEG_BOX`; an address works with `$KEG_TOKEN`. */
export function resolveBox(given: string | undefined, env = process.env): Box {
  const name = given ?? env.KEG_BOX;
  if (!name) throw usageError("No box given. Use --box NAME or set KEG_BOX.");
  if (isAddress(name)) {
    if (!env.KEG_TOKEN) throw usageError(`--box ${name} is an address: set KEG_TOKEN to a token for it.`);
    return { name, address: name.replace(/\/$/, ""), token: env.KEG_TOKEN };
  }
  const boxes = readBoxes();
  const box = boxes.find((b) => b.name === name);
  if (box) return box;
  const known = boxes.map((b) => b.name).join(", ");
  throw new KegError(
    "not_found",
    known
      ? `Unknown box '${name}'. Known boxes: ${known}.`
      : `Unknown box '${name}'. No boxes are known yet: add one with 'keg boxes add --address URL --token TOKEN'.`,
  );
}
