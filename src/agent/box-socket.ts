/**
 * The box side of a tunnel: a socket to the box's own loopback, never to any
 * other address (docs/api.md "Tunnels").
 * @module
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Socket } from "node:net";

export const LOOPBACK = "127.0.0.1";

/** A TCP connection to 127.0.0.1:`port`, paused, once connected; rejects with the error code (ECONNREFUSED). */
export function connectLoopback(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOOPBACK, port, allowHalfOpen: true, noDelay: true });
    socket.pause();
    const failed = (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message));
    socket.once("error", failed);
    socket.once("connect", () => {
      socket.off("error", failed);
      resolve(socket);
    });
  });
}

/** A UDP socket on the loopback that sends to and hears only 127.0.0.1:`port`. */
export function udpToLoopback(port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, LOOPBACK, () => socket.connect(port, LOOPBACK, () => {
      socket.off("error", reject);
      resolve(socket);
    }));
  });
}
