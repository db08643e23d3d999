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

export function listen(options: ServeOptions): Listener {
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    maxRequestBodySize: options.maxRequestBodySize,
    // Streamed run output may be quiet for a while; keepalive frames come every
    // --keepalive seconds, well inside this (docs/development.md "Serving and streaming").
    idleTimeout: 255,
    fetch: (request, server) => options.fetch(request, server),
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
