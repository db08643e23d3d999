/**
 * A TCP connection joined to a tunnel's WebSocket, both ways, with
 * backpressure each way: a full socket pauses the WebSocket's reading, a full
 * WebSocket pauses the socket's, so nothing buffers without bound
 * (docs/api.md "Tunnels"). The CLI and the agent use it alike.
 * @module
 */
import type { Socket } from "node:net";
import type { MessageSocket } from "../platform/index.ts";
import { TUNNEL_EOF, TunnelClose } from "./tunnel.ts";

const NORMAL = 1000;

/** `socket` must be paused and made with `allowHalfOpen` (an `eof` ends only its writing side). */
export function joinTcp(socket: Socket, channel: MessageSocket): void {
  let closed = false;
  let endedHere = false;
  let endedThere = false;
  let waitingForSocket = false;
  const closeChannel = (code: number) => {
    if (closed) return;
    closed = true;
    channel.close(code);
  };

  socket.on("data", (chunk: Buffer) => {
    if (channel.send(chunk)) return;
    socket.pause();
    channel.onDrain = () => {
      channel.onDrain = undefined;
      socket.resume();
    };
  });
  socket.on("end", () => {
    endedHere = true;
    if (!closed) channel.send(TUNNEL_EOF);
    if (endedThere) closeChannel(NORMAL);
  });
  socket.on("error", () => closeChannel(TunnelClose.reset));
  socket.on("close", (hadError: boolean) => closeChannel(hadError ? TunnelClose.reset : NORMAL));

  channel.onMessage = (data) => {
    if (typeof data === "string") {
      if (data !== TUNNEL_EOF) return;
      endedThere = true;
      socket.end();
      if (endedHere) closeChannel(NORMAL);
      return;
    }
    if (socket.write(data) || waitingForSocket) return;
    waitingForSocket = true;
    channel.pause();
    socket.once("drain", () => {
      waitingForSocket = false;
      channel.resume();
    });
  };
  const before = channel.onClose;
  channel.onClose = (code, reason) => {
    before?.(code, reason);
    closed = true;
    // A normal close keeps what is still queued for the socket; anything else is a reset.
    if (code === NORMAL) socket.end(() => socket.destroy());
    else socket.destroy();
  };
  socket.resume();
}
