/** The bytes a folder's files take (links not followed); 0 when it is gone. @module */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export function treeSize(path: string): number {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {}
  for (const name of names) total += treeSize(join(path, name));
  return total;
}
