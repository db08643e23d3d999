/**
 * Timing helpers for bench/: run a command many times, measure each run's
 * wall time with performance.now(), and summarise (median, p90).
 * @module
 */

/** The word after `flag` on the bench's command line (`--runs 10`), if given. */
export const argValue = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? process.argv[at + 1] : undefined;
};

export const GiB = 1024 ** 3;
export const MB = 1e6;

/** A time in ms with one decimal, "-" when there is none. */
export const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "-");

export type Command = {
  label: string;
  cmd: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** untimed, before each run of this command (e.g. wait until the agent has its spare supervisor) */
  before?: () => void;
};

export type Summary = { label: string; runs: number; median: number; p90: number; min: number; max: number };

/** The q-quantile (0..1) of `values`, nearest-rank on a sorted copy. */
export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: number[]) => {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const p90 = (values: number[]) => quantile(values, 0.9);

export function summarise(label: string, samples: number[]): Summary {
  return { label, runs: samples.length, median: median(samples), p90: p90(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

/**
 * One run of `command`: wall time in ms from spawn to exit, output captured
 * (so the child writes to a pipe, as under CI). A non-zero exit throws: a
 * failing command would time its error path.
 */
export function timeOnce(command: Command): number {
  command.before?.();
  const started = performance.now();
  const result = Bun.spawnSync(command.cmd, { env: command.env, cwd: command.cwd, stdout: "pipe", stderr: "pipe" });
  const elapsed = performance.now() - started;
  if (result.exitCode !== 0)
    throw new Error(`${command.label}: '${command.cmd.join(" ")}' exited ${result.exitCode}: ${result.stderr.toString().trim()}`);
  return elapsed;
}

/**
 * Times every command `runs` times after `warmup` untimed runs. Runs are
 * interleaved (round by round over all commands), so a drift of the
 * machine's load during the bench touches every command alike.
 */
export function timeAll(commands: Command[], options: { runs?: number; warmup?: number } = {}): Summary[] {
  const runs = options.runs ?? 30;
  const warmup = options.warmup ?? 3;
  for (let i = 0; i < warmup; i++) for (const command of commands) timeOnce(command);
  const samples = commands.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) commands.forEach((command, j) => samples[j]!.push(timeOnce(command)));
  return commands.map((command, j) => summarise(command.label, samples[j]!));
}

/** A plain text table of summaries, times in ms with one decimal. */
export function formatTable(rows: Summary[]): string {
  const header = ["command", "median ms", "p90 ms", "min ms", "max ms", "runs"];
  const cells = rows.map((r) => [r.label, r.median.toFixed(1), r.p90.toFixed(1), r.min.toFixed(1), r.max.toFixed(1), String(r.runs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}
