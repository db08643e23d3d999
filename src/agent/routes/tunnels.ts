/**
 * GET /v1/runs/:id/tunnel?protocol=tcp|udp&port=N: a WebSocket joined to the
 * box's 127.0.0.1:N (TCP once asked to `connect`), for the run's owner while the run lives; its tunnels
 * close when it ends (docs/api.md "Tunnels"). Without an Upgrade header the
 * same checks answer JSON, so keg can refuse a forward before it listens.
 * @module
 */
import { Hono } from "hono";
import type { Socket as UdpSocket } from "node:dgram";
import { KegError } from "../../errors.ts";
import { upgradeToWebSocket, type MessageSocket } from "../../platform/index.ts";
import { TUNNEL_CONNECT, TunnelClose } from "../../wire/tunnel.ts";
import { joinTcp } from "../../wire/tunnel-pipe.ts";
import { TunnelQuerySchema } from "../../wire/tunnel-schemas.ts";
import { RunIdParamSchema } from "../../wire/schemas.ts";
import type { AuthEnv } from "../auth.ts";
import { connectLoopback, udpToLoopback } from "../box-socket.ts";
import type { LiveRun, RunManager } from "../runs.ts";
import { valid } from "./validate.ts";

/** The live run `id` if `user` owns it; a refusal otherwise. */
function tunnelableRun(runs: RunManager, id: string, user: string): LiveRun {
  const record = runs.record(id); // 404 for an unknown id
  if (record.user !== user) throw new KegError("forbidden", `Run ${id} belongs to ${record.user}: only its owner can forward its ports.`);
  const live = runs.live.get(id);
  if (!live || live.exit) throw new KegError("not_found", `Run ${id} is not running: ports are forwarded only while the run lives.`);
  return live;
}

/**
 * A TCP tunnel waits for `connect`, then joins the box port; what comes while
 * it connects waits, with the WebSocket paused. Bytes before `connect` are a
 * client's mistake: the tunnel is reset.
 */
function connectOnRequest(channel: MessageSocket, port: number, live: LiveRun): void {
  const early: (Uint8Array | string)[] = [];
  let connecting = false;
  let closed = false;
  channel.onMessage = (data) => {
    if (connecting) {
      early.push(data);
      return channel.pause();
    }
    if (data !== TUNNEL_CONNECT) return channel.close(TunnelClose.reset, `send '${TUNNEL_CONNECT}' first`);
    connecting = true;
    connectLoopback(port).then(
      (socket) => {
        if (live.exit || closed) return void socket.destroy();
        joinTcp(socket, channel);
        for (const data of early.splice(0)) channel.onMessage!(data);
        channel.resume();
      },
      (error: Error) => channel.close(TunnelClose.refused, error.message),
    );
  };
  channel.onClose = () => (closed = true);
}

/** One datagram per message each way; a full WebSocket drops datagrams, as a full network would. */
function joinUdp(udp: UdpSocket, channel: MessageSocket): void {
  let full = false;
  udp.on("message", (datagram) => {
    if (full) return;
    if (!channel.send(datagram)) full = true;
  });
  channel.onDrain = () => (full = false);
  // Nobody listening on the box port yet: ICMP refusals are errors here; the datagram is lost, the tunnel stays.
  udp.on("error", () => {});
  channel.onMessage = (data) => {
    if (typeof data === "string") return;
    try {
      udp.send(data);
    } catch {} // a datagram too large for UDP is lost, as the network would lose it
  };
  channel.onClose = () => udp.close();
}

export function tunnelRoutes(runs: RunManager) {
  const app = new Hono<AuthEnv & { Bindings: { server?: unknown } }>();
  const openByRun = new Map<string, Set<MessageSocket>>();

  function track(live: LiveRun, channel: MessageSocket): void {
    let open = openByRun.get(live.id);
    if (!open) {
      const set = (open = new Set());
      openByRun.set(live.id, set);
      void live.exited.then(() => {
        openByRun.delete(live.id);
        for (const socket of set) socket.close(TunnelClose.runEnded, "the run ended");
      });
    }
    open.add(channel);
    const onClose = channel.onClose;
    channel.onClose = (code, reason) => {
      open.delete(channel);
      onClose?.(code, reason);
    };
  }

  app.get("/:id/tunnel", valid("param", RunIdParamSchema), valid("query", TunnelQuerySchema), async (c) => {
    const { id } = c.req.valid("param");
    const { protocol, port } = c.req.valid("query");
    const live = tunnelableRun(runs, id, c.get("user"));
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return c.json({ run: id, protocol, port });
    const udp = protocol === "udp" ? await udpToLoopback(port) : undefined;
    const upgraded = upgradeToWebSocket(c.env?.server, c.req.raw, (channel) => {
      if (live.exit) {
        udp?.close();
        return channel.close(TunnelClose.runEnded, "the run ended");
      }
      if (udp) joinUdp(udp, channel);
      else connectOnRequest(channel, port, live);
      track(live, channel);
    });
    if (!upgraded) {
      udp?.close();
      throw new KegError("bad_request", "A tunnel is a WebSocket: send the request with 'Upgrade: websocket'.");
    }
    // The platform answers the upgrade itself; this response is never sent.
    return new Response(null);
  });

  return app;
}
