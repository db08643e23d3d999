/**
 * Every Bun-only call of keg sits behind these small functions, so the rest of
 * the code could run on another runtime with another adapter (Hono's way).
 * @module
 */
export type Listener = { url: string; host: string; port: number; stop(): Promise<void> };

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
    // --keepalive seconds, well inside this (TRAPS.md "Serving and streaming").
    idleTimeout: 255,
    fetch: (request, server) => options.fetch(request, server),
  });
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.port}`,
    host: options.host,
    port: server.port!,
    stop: () => server.stop(true),
  };
}

/** Lets one long streamed response outlive the idle timeout. */
export function disableIdleTimeout(server: unknown, request: Request): void {
  (server as { timeout?: (req: Request, seconds: number) => void })?.timeout?.(request, 0);
}
