/**
 * The runtime's calls, from Bun's or Deno's implementation, picked once at
 * start-up. A compiled binary is built with KEG_RUNTIME defined as "bun", so
 * the Deno module is not even in it (docs/development.md "Runtimes").
 * @module
 */
import type { Platform } from "./types.ts";

export type { Captured, Helper, HelperOptions, Listener, MessageSocket, OpenedPipe, ServeOptions, SpawnedRun, UnixConnection } from "./types.ts";

declare const KEG_RUNTIME: "bun" | "deno" | undefined;

const runtime = typeof KEG_RUNTIME === "string" ? KEG_RUNTIME : "Deno" in globalThis ? "deno" : "bun";
const platform: Platform = runtime === "deno" ? await import("./deno.ts") : await import("./bun.ts");

export const {
  listen,
  upgradeToWebSocket,
  openWebSocket,
  peerAddress,
  disableIdleTimeout,
  responseCopiesChunks,
  execve,
  spawnRun,
  spawnHelper,
  openPipe,
  connectUnix,
  serveUnixLines,
  listenUnixDescriptor,
  selfCommand,
  becomeSubreaper,
  runCaptured,
  fileBody,
  widenStdoutPipe,
} = platform;
