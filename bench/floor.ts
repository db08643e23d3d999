/**
 * Where the run-overhead targets' limit is (docs/performance.md "The floor"):
 * the least any keg command can cost on this machine with the CLI compiled by
 * Bun, measured as a compiled Bun program (`--bytecode`, minified, as
 * build/binary.ts builds keg) that makes one HTTP request to a server that
 * answers at once, and exits. Printed beside the local interpreter it is
 * compared with; not a target line.
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchEnv, onCleanup, stopProcess, tempDir, type StreamCommand } from "./harness.ts";
import { ms, timeAll, type Summary } from "./lib.ts";

const CLIENT = `const answer = await fetch(process.argv[2], { method: "POST", body: "x" });\nawait answer.text();\nprocess.exit(0);\n`;
const HELLO = `process.exit(0);\n`;
const SERVER = `const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });\nconsole.log(server.url.href);\n`;

function compile(dir: string, name: string, source: string): string {
  writeFileSync(join(dir, `${name}.ts`), source);
  const out = join(dir, name);
  const build = Bun.spawnSync([process.execPath, "build", "--compile", "--bytecode", "--format=esm", "--minify", join(dir, `${name}.ts`), "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bench floor: cannot compile ${name}: ${build.stderr.toString().trim()}`);
  return out;
}

export type Floor = { hello: Summary; client: Summary; python: Summary };

/** Times a compiled hello, the compiled one-request client and `python EMPTY`, interleaved. */
export async function measureFloor(python: string, emptyPy: string, runs: number): Promise<Floor> {
  const dir = tempDir("keg-bench-floor-");
  const hello = compile(dir, "hello", HELLO);
  const client = compile(dir, "client", CLIENT);
  writeFileSync(join(dir, "server.ts"), SERVER);
  const server = Bun.spawn([process.execPath, join(dir, "server.ts")], { stdout: "pipe", stderr: "ignore" });
  onCleanup(() => stopProcess(server));
  const reader = server.stdout.getReader();
  const url = new TextDecoder().decode((await reader.read()).value).trim();
  const env = benchEnv();
  const [h, c, p] = timeAll(
    [
      { label: "compiled hello", cmd: [hello], env },
      { label: "compiled client", cmd: [client, url], env },
      { label: "python", cmd: [python, emptyPy], env },
    ],
    { runs },
  );
  await stopProcess(server);
  return { hello: h!, client: c!, python: p! };
}

export function floorLine(floor: Floor): string {
  return (
    `floor (not a target): a compiled Bun program's start and exit ${ms(floor.hello.median)} ms; with one HTTP request to a server that answers at once ${ms(floor.client.median)} ms ` +
    `(local empty.py ${ms(floor.python.median)} ms): a cold run starts the same interpreter on the box, so target 1 leaves ${ms(10 - floor.client.median)} ms for the agent and the supervisor; ` +
    `target 2 (warm) leaves ${ms(floor.python.median - floor.client.median)} ms for the agent, the supervisor and the script`
  );
}

/**
 * The streaming floors: 1 GiB through as many processes as keg's path has
 * (the script, its supervisor, the agent, keg), with `cat`s doing nothing but
 * the copy, and the same with the second one also writing every byte to a
 * file, as the supervisor writes the spool the SPEC asks for (`tee FILE`;
 * the file is deleted after each run, as the bench drops finished spools).
 * Timed in the same loop as keg and ssh (docs/performance.md "Streaming").
 */
export function streamFloorCommands(bytes: number, dir: string): StreamCommand[] {
  const spool = join(dir, "floor-spool");
  return [
    { label: "floor: four copies", cmd: ["sh", "-c", `head -c ${bytes} /dev/zero | cat | cat | cat > /dev/null`], env: benchEnv() },
    { label: "floor: four copies and a spool file", cmd: ["sh", "-c", `head -c ${bytes} /dev/zero | tee ${spool} | cat | cat > /dev/null; rm -f ${spool}`], env: benchEnv() },
  ];
}

export const streamFloorLine = (copies: number, spooled: number, kegRate: number) =>
  `floor (not a target): 1 GiB through head | cat | cat | cat (four processes, a copy each, no spool, no HTTP) ${copies.toFixed(0)} MB/s; ` +
  `through head | tee FILE | cat | cat (the same with every byte also written to a file, as keg's spool is) ${spooled.toFixed(0)} MB/s; keg ${kegRate.toFixed(0)} MB/s`;
