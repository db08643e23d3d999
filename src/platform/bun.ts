/**
 * Every Bun-only call of keg sits behind these small functions, so the rest of
 * the code could run on another runtime with another adapter (Hono's way).
 * @module
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import type { Captured, Helper, HelperOptions, Listener, MessageSocket, OpenedPipe, ServeOptions, SpawnedRun, UnixConnection } from "./types.ts";
import { CLIENT_WATER, SERVER_WATER, watchedSocket } from "./socket-queue.ts";
import { groupDeadline } from "./process-group.ts";
import { closeAll, O_CLOEXEC, outputPipe, widenStdoutPipeWith, type PipeCalls } from "./output-pipes.ts";
import { firstLine } from "./first-line.ts";

export type { Captured, Helper, HelperOptions, Listener, MessageSocket, OpenedPipe, ServeOptions, SpawnedRun, UnixConnection };

type UpgradeData = { socket: MessageSocket; opened: (socket: MessageSocket) => void };
type BunSocket = import("bun").ServerWebSocket<UpgradeData>;

/** Bun's server socket side: `drain` comes each time it has written some of its queue. */
const websocketHandlers = {
  open(ws: BunSocket) {
    const socket = ws.data.socket;
    socket.send = (data) => ws.send(data) !== 0 && ws.getBufferedAmount() <= SERVER_WATER.high;
    socket.pause = () => ws.pause();
    socket.resume = () => ws.resume();
    socket.close = (code, reason) => ws.close(code, reason);
    ws.data.opened(socket);
  },
  message: (ws: BunSocket, data: string | Uint8Array) => ws.data.socket.onMessage?.(data),
  drain: (ws: BunSocket) => {
    if (ws.getBufferedAmount() <= SERVER_WATER.low) ws.data.socket.onDrain?.();
  },
  close: (ws: BunSocket, code: number, reason: string) => ws.data.socket.onClose?.(code, reason),
  binaryType: "uint8array" as const,
  // A quiet tunnel (a debugger waiting at a breakpoint) stays open: Bun pings an idle peer.
  idleTimeout: 255,
  sendPings: true,
};

/** Upgrades `request` to a WebSocket; `opened` gets it once open. False when `request` is not an upgrade. */
export function upgradeToWebSocket(server: unknown, request: Request, opened: (socket: MessageSocket) => void): boolean {
  const notYet = () => {
    throw new Error("the WebSocket is not open yet");
  };
  const socket: MessageSocket = { send: notYet, pause: notYet, resume: notYet, close: notYet };
  return (server as { upgrade(request: Request, options: { data: UpgradeData }): boolean }).upgrade(request, { data: { socket, opened } });
}

/**
 * A client WebSocket with request headers (Bun's extension), open. Bun's client
 * has no drain event: a full queue is watched through `bufferedAmount`
 * (docs/development.md "Serving and streaming").
 */
export function openWebSocket(url: string, headers: Record<string, string>): Promise<MessageSocket> {
  const ws = new WebSocket(url, { headers } as unknown as string[]) as WebSocket & { pause(): boolean; resume(): boolean };
  const socket = watchedSocket(ws, CLIENT_WATER, { pause: () => void ws.pause(), resume: () => void ws.resume() });
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(socket);
    ws.onerror = (event) => reject(new Error((event as ErrorEvent).message || "WebSocket failed"));
    ws.onclose = (event) => reject(new Error(`WebSocket closed (${event.code})`));
  });
}

export function listen(options: ServeOptions): Listener {
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    maxRequestBodySize: options.maxRequestBodySize,
    // Streamed run output may be quiet for a while; keepalive frames come every
    // --keepalive seconds, well inside this (docs/development.md "Serving and streaming").
    idleTimeout: 255,
    fetch: (request, server) => options.fetch(request, server),
    websocket: websocketHandlers,
  });
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.port}`,
    host: options.host,
    port: server.port!,
    stop: (closeActive = true) => server.stop(closeActive),
  };
}

/** The address of the client of `request`, when the server knows it. */
export function peerAddress(server: unknown, request: Request): string | undefined {
  return (server as { requestIP?: (req: Request) => { address: string } | null })?.requestIP?.(request)?.address;
}

/** Replaces this process's image with `file`, keeping its pid (docs/development.md "Processes"). Returns only on failure. */
export function execve(file: string, argv: string[], env: Record<string, string | undefined>): never {
  return (process as unknown as { execve(file: string, argv: string[], env: object): never }).execve(file, argv, env);
}

/** Bun's response sink copies what the socket does not take at once. */
export const responseCopiesChunks = true;

/** Lets one long streamed response outlive the idle timeout. */
export function disableIdleTimeout(server: unknown, request: Request): void {
  (server as { timeout?: (req: Request, seconds: number) => void })?.timeout?.(request, 0);
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SUN_PATH_BYTES = 108;

/** socket, bind and listen through bun:ffi: the descriptor is ours alone, Bun's loop never sees it. */
export function listenUnixDescriptor(path: string): number {
  const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
  try {
    const name = new TextEncoder().encode(path);
    if (name.length >= SUN_PATH_BYTES) throw new Error(`the socket path ${path} is longer than ${SUN_PATH_BYTES - 1} bytes`);
    const address = new Uint8Array(2 + SUN_PATH_BYTES);
    new DataView(address.buffer).setUint16(0, AF_UNIX, true);
    address.set(name, 2);
    const fd = libc.symbols.socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0);
    if (fd < 0) throw new Error("cannot make a Unix socket");
    if (libc.symbols.bind(fd, ptr(address), address.length) !== 0 || libc.symbols.listen(fd, 128) !== 0) {
      closeAll([fd]);
      throw new Error(`cannot listen on ${path}`);
    }
    return fd;
  } finally {
    libc.close();
  }
}

export const widenStdoutPipe = () => widenStdoutPipeWith(() => libcPipes().fcntl);

let pipeCalls: PipeCalls | undefined;

/** pipe2 and fcntl through bun:ffi, opened at the first run. */
function libcPipes(): PipeCalls {
  if (pipeCalls) return pipeCalls;
  const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
  pipeCalls = {
    pipe2(flags) {
      const fds = new Int32Array(2);
      return libc.symbols.pipe2(ptr(fds), flags) === 0 ? [fds[0]!, fds[1]!] : undefined;
    },
    fcntl: (fd, command, arg) => libc.symbols.fcntl(fd, command, arg),
  };
  return pipeCalls;
}

/**
 * Starts a process as its own session and group leader (so the whole group can
 * be signalled) with pipes as its stdout, stderr and fd 3 (docs/development.md "Processes").
 */
export function spawnRun(argv: string[], options: { cwd: string; env: Record<string, string> }): SpawnedRun {
  // Non-blocking read ends: Bun reads them on its event loop.
  const pipes = [0, 1, 2].map(() => outputPipe(libcPipes(), true));
  const reads = pipes.map((pipe) => pipe.read);
  let proc;
  try {
    proc = Bun.spawn(argv, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", pipes[0]!.write, pipes[1]!.write, pipes[2]!.write],
      detached: true,
    });
  } catch (error) {
    closeAll(reads);
    throw error;
  } finally {
    closeAll(pipes.map((pipe) => pipe.write));
  }
  let closed = false;
  return {
    pid: proc.pid,
    stdout: Bun.file(reads[0]!).stream(),
    stderr: Bun.file(reads[1]!).stream(),
    channel: Bun.file(reads[2]!).stream(),
    exited: proc.exited.then((code) => ({ code, signal: proc.signalCode ? String(proc.signalCode) : null })),
    closeChannel() {
      if (closed) return;
      closed = true;
      closeAll(reads);
    },
  };
}

export function spawnHelper(argv: string[], options: HelperOptions = {}): Helper {
  const stdio = options.fd3 === undefined ? (["pipe", "pipe", "inherit"] as const) : (["pipe", "pipe", "inherit", options.fd3] as const);
  const proc = Bun.spawn(argv, { stdio: [...stdio], detached: true, env: options.env, cwd: options.cwd });
  return {
    pid: proc.pid,
    stdout: proc.stdout as ReadableStream<Uint8Array>,
    exited: proc.exited,
    tell(text, options) {
      proc.stdin.write(text);
      if (options?.keepOpen) proc.stdin.flush();
      else proc.stdin.end();
    },
  };
}

/** Non-blocking: a pipe whose writer is gone must not stop the event loop in open(). */
export function openPipe(path: string): OpenedPipe {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new Error(`${path} is not a pipe`);
  }
  let closed = false;
  return {
    stream: Bun.file(fd).stream(),
    close() {
      if (closed) return;
      closed = true;
      try {
        closeSync(fd);
      } catch {}
    },
  };
}

/** Bun's own sockets (node:net costs a first connect ~7 ms of loading); what a write leaves over goes at `drain`. */
export function connectUnix(path: string): Promise<UnixConnection> {
  let socket: import("bun").Socket | undefined;
  let queued = new Uint8Array(0);
  const encoder = new TextEncoder();
  const flush = () => {
    if (!socket || !queued.length) return;
    queued = queued.subarray(Math.max(0, socket.write(queued)));
  };
  const connection: UnixConnection = {
    write(text) {
      const bytes = encoder.encode(text);
      const joined = new Uint8Array(queued.length + bytes.length);
      joined.set(queued);
      joined.set(bytes, queued.length);
      queued = joined;
      flush();
    },
    close: () => socket?.terminate(),
  };
  return new Promise((resolve, reject) => {
    Bun.connect({
      unix: path,
      socket: {
        open(opened) {
          socket = opened;
          resolve(connection);
        },
        drain: flush,
        data: (_socket, chunk) => connection.onData?.(chunk),
        close: () => connection.onClose?.(),
        error: () => connection.onClose?.(),
        connectError: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
}

type LineSocket = { text: string; answered: boolean; queued: Uint8Array };

/** One line in, one line out, per connection; what the socket does not take at once goes at `drain`, then it ends. */
export function serveUnixLines(path: string, maxLine: number, answer: (line: string) => Promise<string>): { close(): void } {
  const decoder = new TextDecoder();
  const flush = (socket: import("bun").Socket<LineSocket>) => {
    const state = socket.data;
    if (state.queued.length) state.queued = state.queued.subarray(Math.max(0, socket.write(state.queued)));
    if (!state.queued.length) socket.end();
  };
  const listener = Bun.listen<LineSocket>({
    unix: path,
    socket: {
      open: (socket) => void (socket.data = { text: "", answered: false, queued: new Uint8Array(0) }),
      data(socket, chunk) {
        const state = socket.data;
        if (state.answered) return;
        state.text += decoder.decode(chunk, { stream: true });
        const line = firstLine(state.text, maxLine);
        if (line === undefined) return;
        state.answered = true;
        void (line === null ? Promise.resolve("") : answer(line)).then((reply) => {
          state.queued = new TextEncoder().encode(reply ? `${reply}\n` : "");
          flush(socket);
        });
      },
      drain: flush,
    },
  });
  return { close: () => listener.stop(true) };
}

/** The command that re-enters this executable (compiled: the binary itself). */
export function selfCommand(): string[] {
  const exe = process.execPath;
  return /\/bun(-\w+)?$/.test(exe) && process.argv[1] ? [exe, process.argv[1]] : [exe];
}

const PR_SET_CHILD_SUBREAPER = 36;

/**
 * Makes this process a child subreaper (Linux): orphaned descendants are
 * reparented to it instead of init, so it can find and end them. False where
 * the call is not available.
 */
export async function becomeSubreaper(): Promise<boolean> {
  if (process.platform !== "linux") return false;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
    const ok = libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0;
    libc.close();
    return ok;
  } catch {
    return false;
  }
}

/** Runs `argv` to its end (killed after `timeoutMs`) and returns what it printed; throws when it cannot start. */
export async function runCaptured(argv: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<Captured> {
  // Its own process group: a child it leaves behind (holding our pipes) is ended with it.
  const proc = Bun.spawn(argv, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const deadline = groupDeadline(proc.pid, options.timeoutMs);
  const texts = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  deadline.end();
  const [stdout, stderr] = await texts;
  return { code: proc.signalCode ? null : code, stdout, stderr, timedOut: deadline.timedOut };
}

/** A file as a request body, streamed from disk. */
export const fileBody = (path: string): Blob => Bun.file(path);
