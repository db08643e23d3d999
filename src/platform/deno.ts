/**
 * keg's runtime calls under Deno 2 (`deno run -A`). Where Deno differs from
 * Bun the difference stays here (docs/development.md "Runtimes"): processes
 * are started with node:child_process, whose extra stdio pipes give a script
 * its fd 3 (Deno.Command has only three); a WebSocket upgrade's response is
 * swapped in for the route's; exec and prctl go through Deno's FFI.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { Readable } from "node:stream";
import { CLIENT_WATER, watchedSocket } from "./socket-queue.ts";
import type { Captured, Helper, HelperOptions, Listener, MessageSocket, OpenedPipe, ServeOptions, SpawnedRun, UnixConnection } from "./types.ts";
import { groupDeadline } from "./process-group.ts";
import { firstLine } from "./first-line.ts";
import { widenStdoutPipeWith } from "./output-pipes.ts";

type FfiSymbol = { parameters: string[]; result: string };
type ServeInfo = { remoteAddr: { hostname: string } };

/** The few Deno APIs keg uses, typed here (the project's types are Bun's). */
type DenoApi = {
  serve(
    options: { hostname: string; port: number; signal: AbortSignal; onListen(addr: { port: number }): void },
    handler: (request: Request, info: ServeInfo) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
  execPath(): string;
  mainModule: string;
  dlopen<S extends Record<string, FfiSymbol>>(path: string, symbols: S): { symbols: Record<keyof S, (...args: unknown[]) => number>; close(): void };
  UnsafePointer: { of(buffer: Uint8Array): unknown; value(pointer: unknown): bigint | number };
  listen(options: { transport: "unix"; path: string }): AsyncIterable<DenoConn> & { close(): void };
  connect(options: { transport: "unix"; path: string }): Promise<DenoConn>;
};
type DenoConn = { read(buffer: Uint8Array): Promise<number | null>; write(bytes: Uint8Array): Promise<number>; close(): void };
const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

/** What a handler's opaque `server` is under Deno: the connection's info, and the upgrade answer once there is one. */
type RequestContext = { info: ServeInfo; upgrade?: Response };

export function listen(options: ServeOptions): Listener {
  const abort = new AbortController();
  // Deno's server has no body cap (Bun's maxRequestBodySize) and closes no
  // connection for idleness mid-response: the agent's own limits apply alone.
  const server = Deno.serve({ hostname: options.host, port: options.port, signal: abort.signal, onListen() {} }, async (request, info) => {
    const context: RequestContext = { info };
    const response = await options.fetch(request, context);
    return context.upgrade ?? response;
  });
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.addr.port}`,
    host: options.host,
    port: server.addr.port,
    async stop(closeActive = true) {
      if (!closeActive) return server.shutdown();
      abort.abort();
      await server.finished;
    },
  };
}

/**
 * Deno answers an upgrade with a response the handler must return: it is kept
 * on the request's context and listen() returns it instead of the route's.
 */
export function upgradeToWebSocket(server: unknown, request: Request, opened: (socket: MessageSocket) => void): boolean {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return false;
  // Deno pings a quiet peer every idleTimeout seconds and closes it only when no pong comes.
  const { socket: ws, response } = Deno.upgradeWebSocket(request, { idleTimeout: 255 });
  (server as RequestContext).upgrade = response;
  // Deno's sockets cannot stop reading: pause and resume do nothing.
  const socket = watchedSocket(ws, CLIENT_WATER, { pause() {}, resume() {} });
  ws.addEventListener("open", () => opened(socket));
  return true;
}

export function openWebSocket(url: string, headers: Record<string, string>): Promise<MessageSocket> {
  const ws = new WebSocket(url, { headers } as unknown as string[]);
  const socket = watchedSocket(ws, CLIENT_WATER, { pause() {}, resume() {} });
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(socket);
    ws.onerror = (event) => reject(new Error((event as ErrorEvent).message || "WebSocket failed"));
    ws.onclose = (event) => reject(new Error(`WebSocket closed (${event.code})`));
  });
}

export function peerAddress(server: unknown, _request: Request): string | undefined {
  return (server as RequestContext | undefined)?.info?.remoteAddr?.hostname;
}

export function disableIdleTimeout(_server: unknown, _request: Request): void {}

/** Deno's server keeps an enqueued chunk until it is written. */
export const responseCopiesChunks = false;

const cString = (text: string) => new TextEncoder().encode(`${text}\0`);

/** A NULL-terminated array of C strings; `keep` holds the strings so they outlive the call. */
function cStringArray(texts: string[], keep: Uint8Array[]): BigUint64Array {
  const pointers = new BigUint64Array(texts.length + 1);
  texts.forEach((text, at) => {
    const bytes = cString(text);
    keep.push(bytes);
    pointers[at] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  });
  return pointers;
}

/** Deno has no process.execve: libc's, through FFI. */
export function execve(file: string, argv: string[], env: Record<string, string | undefined>): never {
  const libc = Deno.dlopen("libc.so.6", { execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" } });
  const keep: Uint8Array[] = [];
  const envp = Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
  libc.symbols.execve(cString(file), new Uint8Array(cStringArray(argv, keep).buffer), new Uint8Array(cStringArray(envp, keep).buffer));
  libc.close();
  throw new Error(`execve of ${file} failed`);
}

const asWeb = (stream: Readable | null | undefined) => Readable.toWeb(stream!) as unknown as ReadableStream<Uint8Array>;

/** A child's end, as Bun reports it: 128+N when signal N killed it. */
function exitOf(proc: ChildProcess): Promise<{ code: number; signal: string | null }> {
  return new Promise((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code: code ?? 128 + (constants.signals[signal as NodeJS.Signals] ?? 0), signal: signal ?? null })),
  );
}

/** node:child_process reports a failed start as an event; Bun.spawn throws, and so does this. */
function started(proc: ChildProcess, argv: string[]): ChildProcess {
  if (proc.pid === undefined) throw new Error(`no such file or not executable: ${argv[0]}`);
  return proc;
}

/**
 * The record channel is a fourth stdio pipe of node:child_process (Deno.Command has no extra pipes).
 * Under Deno a script's stdout, stderr and fd 3 stay node's socket pairs: Deno reads no descriptor
 * it did not open itself, so keg's own pipes (src/platform/output-pipes.ts) are Bun's alone.
 */
export function spawnRun(argv: string[], options: { cwd: string; env: Record<string, string> }): SpawnedRun {
  const proc = started(spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe", "pipe"], detached: true }), argv);
  const fd3 = proc.stdio[3] as Readable;
  return {
    pid: proc.pid!,
    stdout: asWeb(proc.stdout),
    stderr: asWeb(proc.stderr),
    channel: asWeb(fd3),
    exited: exitOf(proc),
    closeChannel: () => fd3.destroy(),
  };
}

export function spawnHelper(argv: string[], options: HelperOptions = {}): Helper {
  const proc = started(spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"], detached: true, env: options.env, cwd: options.cwd }), argv);
  return {
    pid: proc.pid!,
    stdout: asWeb(proc.stdout),
    exited: exitOf(proc).then((exit) => exit.code),
    tell(text, options) {
      proc.stdin!.write(text);
      if (!options?.keepOpen) proc.stdin!.end();
    },
  };
}

/**
 * The warm interpreter is the compiled agent's: Deno's node:child_process
 * passes no descriptor of ours to a child, so there is no socket to hand the
 * forkserver, and nothing here to open its pipes.
 */
const noWarmInterpreter = (): never => {
  throw new Error("the warm interpreter needs the compiled keg-agent (it cannot run under Deno)");
};
export const listenUnixDescriptor = (_path: string): number => noWarmInterpreter();
export const openPipe = (_path: string): OpenedPipe => noWarmInterpreter();

async function writeAll(conn: DenoConn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) done += await conn.write(bytes.subarray(done));
}

const closeQuietly = (conn: DenoConn) => {
  try {
    conn.close();
  } catch {}
};

/** Deno's own Unix sockets (the users socket: docs/cli.md "keg-agent users"); writes go out in order. */
export async function connectUnix(path: string): Promise<UnixConnection> {
  const conn = await Deno.connect({ transport: "unix", path });
  const encoder = new TextEncoder();
  let writing = Promise.resolve();
  const connection: UnixConnection = {
    write(text) {
      const bytes = encoder.encode(text);
      writing = writing.then(() => writeAll(conn, bytes)).catch(() => {});
    },
    close: () => closeQuietly(conn),
  };
  void (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (let n; (n = await conn.read(buffer)) !== null; ) connection.onData?.(buffer.slice(0, n));
    } catch {}
    closeQuietly(conn);
    connection.onClose?.();
  })();
  return connection;
}

/** One line in, one line out, per connection, then it ends (as Bun's). */
export function serveUnixLines(path: string, maxLine: number, answer: (line: string) => Promise<string>): { close(): void } {
  const listener = Deno.listen({ transport: "unix", path });
  void (async () => {
    try {
      for await (const conn of listener) void answerLine(conn, maxLine, answer);
    } catch {}
  })();
  return { close: () => listener.close() };
}

async function answerLine(conn: DenoConn, maxLine: number, answer: (line: string) => Promise<string>): Promise<void> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  try {
    let line: string | null | undefined;
    while (line === undefined) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      line = firstLine(text, maxLine);
    }
    const reply = typeof line === "string" ? await answer(line) : "";
    if (reply) await writeAll(conn, new TextEncoder().encode(`${reply}\n`));
  } catch {
  } finally {
    closeQuietly(conn);
  }
}

/** `deno run -A <entry>` again, with the config the agent was started with (its node_modules). */
export function selfCommand(): string[] {
  return [Deno.execPath(), "run", "-A", "--quiet", new URL(Deno.mainModule).pathname];
}

const PR_SET_CHILD_SUBREAPER = 36;

export async function becomeSubreaper(): Promise<boolean> {
  if (process.platform !== "linux") return false;
  try {
    const libc = Deno.dlopen("libc.so.6", { prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" } });
    const ok = libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n) === 0;
    libc.close();
    return ok;
  } catch {
    return false;
  }
}

export function runCaptured(argv: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<Captured> {
  return new Promise((resolve, reject) => {
    // Its own process group: a child it leaves behind (holding our pipes) is ended with it.
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const deadline = groupDeadline(proc.pid, options.timeoutMs);
    const texts = { stdout: "", stderr: "" };
    proc.stdout!.setEncoding("utf8").on("data", (text: string) => (texts.stdout += text));
    proc.stderr!.setEncoding("utf8").on("data", (text: string) => (texts.stderr += text));
    proc.once("error", (error) => {
      deadline.end();
      reject(error);
    });
    proc.once("exit", () => deadline.end());
    proc.once("close", (code, signal) => resolve({ code: signal ? null : code, ...texts, timedOut: deadline.timedOut }));
  });
}

/** Deno has no lazy file Blob (Bun.file): the file is read whole (an agent binary, for `keg update`). */
export const fileBody = (path: string): Blob => new Blob([readFileSync(path)]);

export const widenStdoutPipe = () =>
  widenStdoutPipeWith(() => {
    const libc = Deno.dlopen("libc.so.6", { fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" } });
    return (fd, command, arg) => libc.symbols.fcntl(fd, command, arg);
  });
