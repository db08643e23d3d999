/**
 * Every process started under this one, found through /proc: a script's child
 * that left its process group (`setsid`) is still one of them, since the
 * supervisor is a child subreaper and orphans are reparented to it
 * (docs/security.md "Processes").
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** The fields of /proc/PID/stat after the command name (which may hold spaces), or undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

const isLive = (pid: number) => {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== "Z";
};

/**
 * The children of `pid` from /proc/PID/task/TID/children (one file a thread:
 * a child belongs to the thread that forked it); undefined when the kernel
 * has no such files.
 */
function childrenOf(pid: number): number[] | undefined {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const tid of threads) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && existsSync(`/proc/${pid}/task/${tid}`)) return undefined;
      continue;
    }
    for (const word of text.split(" ")) if (word) children.push(Number(word));
  }
  return children;
}

/** Every process's parent from one pass over /proc: for a kernel without children files. */
function childrenByScan(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const fields = statFields(pid);
    if (!fields) continue;
    const parent = Number(fields[1]);
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  return children;
}

/**
 * The live (non-zombie) descendants of `root`. The walk reads the children
 * files of root's tree only (a few reads, where a pass over /proc costs a
 * read per process on the box: 2–10 ms at the end of every run).
 */
export function descendantsOf(root: number): number[] {
  let scanned: Map<number, number[]> | undefined;
  const under = (pid: number) => childrenOf(pid) ?? (scanned ??= childrenByScan()).get(pid) ?? [];
  const found: number[] = [];
  const seen = new Set<number>([root]);
  const queue = under(root);
  while (queue.length) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    // A zombie's children are already reparented: nothing under it to walk.
    if (!isLive(pid)) continue;
    found.push(pid);
    queue.push(...under(pid));
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
