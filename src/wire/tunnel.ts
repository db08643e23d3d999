/**
 * Tunnels (docs/api.md "Tunnels"): one WebSocket per forwarded TCP connection
 * or UDP peer, bound to a live run of the token's user. Binary messages are
 * the bytes (one message, one datagram for UDP); the text message `eof` says
 * the sender's side finished writing (a TCP half-close). A TCP tunnel opens
 * idle and connects to the box port on the text message `connect`, so keg can
 * hold one open ahead of the next local connection.
 * @module
 */
export type TunnelProtocol = "tcp" | "udp";

export const TUNNEL_EOF = "eof";
export const TUNNEL_CONNECT = "connect";

/** Close codes beyond 1000 (normal): why the other side ended the tunnel. */
export const TunnelClose = {
  /** the connection on that side failed or was reset */
  reset: 4000,
  /** the run ended: its tunnels close with it */
  runEnded: 4001,
  /** nothing accepted the connection to the box port; the reason says why */
  refused: 4002,
} as const;

export function tunnelPath(runId: string, protocol: TunnelProtocol, port: number): string {
  return `/v1/runs/${encodeURIComponent(runId)}/tunnel?protocol=${protocol}&port=${port}`;
}
