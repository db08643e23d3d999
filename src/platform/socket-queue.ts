/**
 * Flow control for a standard WebSocket, which has no drain event: a full
 * queue is watched through `bufferedAmount` (docs/development.md "Serving and
 * streaming"). Bun's client socket and both of Deno's sockets use it.
 * @module
 */
import type { MessageSocket } from "./types.ts";

/**
 * How much a WebSocket may hold unsent before `send` answers false, and how
 * little before `onDrain` fires. Bun's server side gets a drain event as soon
 * as it has written some of its queue; a polled one may be looked at late on a
 * busy machine, so its queue is kept wider lest it run dry.
 */
export const SERVER_WATER = { high: 2 * 1024 * 1024, low: 1024 * 1024 };
export const CLIENT_WATER = { high: 8 * 1024 * 1024, low: 4 * 1024 * 1024 };

const DRAIN_POLL_MS = 1;

/** `ws` as a MessageSocket whose drain is polled; `flow` stops and restarts reading where the runtime can. */
export function watchedSocket(ws: WebSocket, water: { high: number; low: number }, flow: { pause(): void; resume(): void }): MessageSocket {
  ws.binaryType = "arraybuffer";
  let draining: ReturnType<typeof setTimeout> | undefined;
  const watchDrain = () => {
    draining = undefined;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > water.low) draining = setTimeout(watchDrain, DRAIN_POLL_MS);
    else socket.onDrain?.();
  };
  const socket: MessageSocket = {
    send(data) {
      ws.send(data as Uint8Array<ArrayBuffer> | string);
      if (ws.bufferedAmount <= water.high) return true;
      draining ??= setTimeout(watchDrain, DRAIN_POLL_MS);
      return false;
    },
    pause: flow.pause,
    resume: flow.resume,
    close: (code, reason) => ws.close(code, reason),
  };
  ws.addEventListener("message", (event) => socket.onMessage?.(typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer)));
  ws.addEventListener("close", (event) => {
    clearTimeout(draining);
    socket.onClose?.(event.code, event.reason);
  });
  return socket;
}
