/**
 * What keg asks of its runtime: serving, WebSockets, processes, exec. Bun's
 * and Deno's implementations (bun.ts, deno.ts) both satisfy `Platform`;
 * index.ts picks one at start-up (docs/development.md "Runtimes").
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
  /** `server` is opaque: hand it back to upgradeToWebSocket, peerAddress, disableIdleTimeout */
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

/** A helper process in a session of its own (the run supervisor): we write its stdin and read its stdout. */
export type Helper = {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  exited: Promise<number>;
  /** writes `text` to its stdin and closes it, unless kept open (it then ends when we exit) */
  tell(text: string, options?: { keepOpen?: boolean }): void;
};

/** A pipe opened by path (another process's end, through /proc/PID/fd/N), read as a stream. */
export type OpenedPipe = { stream: ReadableStream<Uint8Array>; close(): void };

/** A Unix stream socket, client side: writes are queued whole, `onData` gets what comes in, `onClose` its end. */
export type UnixConnection = {
  write(text: string): void;
  close(): void;
  onData?: (chunk: Uint8Array) => void;
  onClose?: () => void;
};

/** How a helper starts: its environment and working directory (default: the agent's), and a descriptor for its fd 3. */
export type HelperOptions = { env?: Record<string, string>; cwd?: string; fd3?: number };

export type Captured = { code: number | null; stdout: string; stderr: string; timedOut: boolean };

export type Platform = {
  listen(options: ServeOptions): Listener;
  /** Upgrades `request` to a WebSocket; `opened` gets it once open. False when `request` is not an upgrade. */
  upgradeToWebSocket(server: unknown, request: Request, opened: (socket: MessageSocket) => void): boolean;
  /** A client WebSocket with request headers, open. */
  openWebSocket(url: string, headers: Record<string, string>): Promise<MessageSocket>;
  /** The address of the client of `request`, when the server knows it. */
  peerAddress(server: unknown, request: Request): string | undefined;
  /** Lets one long streamed response outlive the idle timeout. */
  disableIdleTimeout(server: unknown, request: Request): void;
  /** Whether the server has copied an enqueued response chunk by its next pull (Bun's does, Deno's does not). */
  readonly responseCopiesChunks: boolean;
  /** Replaces this process's image with `file`, keeping its pid. Returns only on failure. */
  execve(file: string, argv: string[], env: Record<string, string | undefined>): never;
  /** Starts a process as its own session and group leader with a fourth pipe as its fd 3; throws when it cannot start. */
  spawnRun(argv: string[], options: { cwd: string; env: Record<string, string> }): SpawnedRun;
  spawnHelper(argv: string[], options?: HelperOptions): Helper;
  /** Opens the pipe at `path` for reading; throws when it cannot, or when it is not a pipe. */
  openPipe(path: string): OpenedPipe;
  /**
   * A listening Unix stream socket at `path`, made by this process (the file is
   * its user's), as a bare descriptor for a helper's fd 3: the runtime itself
   * never accepts on it. Throws where the runtime cannot pass one on.
   */
  listenUnixDescriptor(path: string): number;
  /** Connects to the Unix socket at `path`; rejects when nothing listens there. */
  connectUnix(path: string): Promise<UnixConnection>;
  /**
   * A Unix stream socket at `path` that answers each connection's first line
   * (at most `maxLine` bytes) with `answer`'s line, then closes it. Throws
   * where the runtime cannot listen on one.
   */
  serveUnixLines(path: string, maxLine: number, answer: (line: string) => Promise<string>): { close(): void };
  /** The command that re-enters this program (compiled: the binary itself). */
  selfCommand(): string[];
  /** Makes this process a child subreaper (Linux); false where the call is not available. */
  becomeSubreaper(): Promise<boolean>;
  /** Runs `argv` to its end (killed after `timeoutMs`) and returns what it printed; throws when it cannot start. */
  runCaptured(argv: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<Captured>;
  /** A file as a request body, streamed from disk. */
  fileBody(path: string): Blob;
  /**
   * When our stdout is a pipe (Linux), asks for a buffer of 1 MiB instead of
   * 64 KiB: a bulk stream into `| cat` then takes 16 times fewer wake-ups of
   * each side. Nothing where it cannot (another system, a limit reached).
   */
  widenStdoutPipe(): void;
};
