/**
 * Every Bun-only call of keg sits behind these small functions, so the rest of
 * the code could run on another runtime with another adapter (Hono's way).
 * @module
 */
export type Listener = {
  url: string;
  host: string;
  port: number;
  /** stops listening; `closeActive: false` lets requests in flight finish first */
  stop(closeActive?: boolean): Promise<void>;
};

export type ServeOptions = {
  host: string;
  port: number;
  maxRequestBodySize: number;
  fetch: (request: Request, server: unknown) => Response | Promise<Response>;
};

/**
 * One WebSocket, server or client side, with flow control: `send` answers
 * false once the socket holds more than it has written, and `onDrain` says
 * when to send again (docs/api.md "Tunnels").
 */
export type MessageSocket = {
  send(data: Uint8Array | string): boolean;
  /** stop reading from the network: the peer then feels TCP backpressure */
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string): void;
  onMessage?: (data: Uint8Array | string) => void;
  onDrain?: () => void;
  onClose?: (code: number, reason: string) => void;
};

type UpgradeData = { socket: MessageSocket; opened: (socket: MessageSocket) => void };
type BunSocket = import("bun").ServerWebSocket<UpgradeData>;

/**
 * How much a WebSocket may hold unsent before `send` answers false, and how
 * little before `onDrain` fires. The server side gets a drain event as soon as
 * it has written some of its queue; the client's is polled, and a poll may
 * come late on a busy machine, so its queue is kept wider lest it run dry.
 */
const SERVER_WATER = { high: 2 * 1024 * 1024, low: 1024 * 1024 };
const CLIENT_WATER = { high: 8 * 1024 * 1024, low: 4 * 1024 * 1024 };

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

const DRAIN_POLL_MS = 1;

/**
 * A client WebSocket with request headers (Bun's extension), open. Bun's client
 * has no drain event: a full queue is watched through `bufferedAmount`
 * (docs/development.md "Serving and streaming").
 */
export function openWebSocket(url: string, headers: Record<string, string>): Promise<MessageSocket> {
  const ws = new WebSocket(url, { headers } as unknown as string[]) as WebSocket & { pause(): boolean; resume(): boolean };
  ws.binaryType = "arraybuffer";
  let draining: ReturnType<typeof setTimeout> | undefined;
  const watchDrain = () => {
    draining = undefined;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > CLIENT_WATER.low) draining = setTimeout(watchDrain, DRAIN_POLL_MS);
    else socket.onDrain?.();
  };
  const socket: MessageSocket = {
    send(data) {
      ws.send(data as Uint8Array<ArrayBuffer> | string);
      if (ws.bufferedAmount <= CLIENT_WATER.high) return true;
      draining ??= setTimeout(watchDrain, DRAIN_POLL_MS);
      return false;
    },
    pause: () => void ws.pause(),
    resume: () => void ws.resume(),
    close: (code, reason) => ws.close(code, reason),
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(socket);
    ws.onmessage = (event) => socket.onMessage?.(typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer));
    ws.onerror = (event) => reject(new Error((event as ErrorEvent).message || "WebSocket failed"));
    ws.onclose = (event) => {
      clearTimeout(draining);
      reject(new Error(`WebSocket closed (${event.code})`));
      socket.onClose?.(event.code, event.reason);
    };
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

/** Lets one long streamed response outlive the idle timeout. */
export function disableIdleTimeout(server: unknown, request: Request): void {
  (server as { timeout?: (req: Request, seconds: number) => void })?.timeout?.(request, 0);
}

export type SpawnedRun = {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  /** the script's file descriptor 3 (structured records) */
  channel: ReadableStream<Uint8Array>;
  /** exit code (128+N when killed by signal N) and the signal's name */
  exited: Promise<{ code: number; signal: string | null }>;
  closeChannel(): void;
};

/**
 * Starts a process as its own session and group leader (so the whole group can
 * be signalled) with a fourth pipe as its fd 3 (docs/development.md "Processes").
 */
export function spawnRun(argv: string[], options: { cwd: string; env: Record<string, string> }): SpawnedRun {
  const proc = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    detached: true,
  });
  const fd = proc.stdio[3] as unknown as number;
  let closed = false;
  return {
    pid: proc.pid,
    stdout: proc.stdout as ReadableStream<Uint8Array>,
    stderr: proc.stderr as ReadableStream<Uint8Array>,
    channel: Bun.file(fd).stream(),
    exited: proc.exited.then((code) => ({ code, signal: proc.signalCode ? String(proc.signalCode) : null })),
    closeChannel() {
      if (closed) return;
      closed = true;
      try {
        require("node:fs").closeSync(fd);
      } catch {}
    },
  };
}

/** A helper process in a session of its own (the run supervisor): we write its stdin and read its stdout. */
export type Helper = {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  exited: Promise<number>;
  /** writes `text` to its stdin and closes it, unless kept open (it then ends when we exit) */
  tell(text: string, options?: { keepOpen?: boolean }): void;
};

export function spawnHelper(argv: string[]): Helper {
  const proc = Bun.spawn(argv, { stdio: ["pipe", "pipe", "inherit"], detached: true });
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

export type Captured = { code: number | null; stdout: string; stderr: string; timedOut: boolean };

/** Runs `argv` to its end (killed after `timeoutMs`) and returns what it printed; throws when it cannot start. */
export async function runCaptured(argv: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<Captured> {
  const proc = Bun.spawn(argv, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, options.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code: proc.signalCode ? null : code, stdout, stderr, timedOut };
}

/** A file as a request body, streamed from disk. */
export const fileBody = (path: string): Blob => Bun.file(path);
