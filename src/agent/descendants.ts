/**
 * Every process started under this one, found through /proc: a script's child
 * that left its process group (`setsid`) is still one of them, since the
 * supervisor is a child subreaper and orphans are reparented to it
 * (docs/security.md "Processes").
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";

/** Parent pid of `pid` from /proc/PID/stat, or undefined when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may hold spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** The live (non-zombie) descendants of `root`. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

const signal = (pids: number[], name: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {}
  }
};

/**
 * Ends every descendant of `root` (this process, or a warm run's runner):
 * SIGTERM, then SIGKILL to those still there after `graceMs`.
 */
export async function endDescendants(root = process.pid, graceMs = 1000): Promise<void> {
  const first = descendantsOf(root);
  if (!first.length) return;
  signal(first, "SIGTERM");
  signal(first, "SIGCONT");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && descendantsOf(root).length) await new Promise((resolve) => setTimeout(resolve, 20));
  signal(descendantsOf(root), "SIGKILL");
}
