/**
 * GET /v1/runs/:id/tunnel?protocol=tcp|udp&port=N: a WebSocket joined to the
 * box's 127.0.0.1:N, for the run's owner while the run lives; its tunnels
 * close when it ends (docs/api.md "Tunnels"). Without an Upgrade header the
 * same checks answer JSON, so keg can refuse a forward before it listens.
 * @module
 */
import { Hono } from "hono";
import type { Socket as UdpSocket } from "node:dgram";
import type { Socket } from "node:net";
import { KegError } from "../../errors.ts";
import { upgradeToWebSocket, type MessageSocket } from "../../platform/bun.ts";
import { TunnelClose, type TunnelProtocol } from "../../wire/tunnel.ts";
import { joinTcp } from "../../wire/tunnel-pipe.ts";
import { TunnelQuerySchema } from "../../wire/tunnel-schemas.ts";
import { RunIdParamSchema } from "../../wire/schemas.ts";
import type { AuthEnv } from "../auth.ts";
import { connectLoopback, LOOPBACK, udpToLoopback } from "../box-socket.ts";
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

async function boxSide(protocol: TunnelProtocol, port: number): Promise<Socket | UdpSocket> {
  try {
    return protocol === "tcp" ? await connectLoopback(port) : await udpToLoopback(port);
  } catch (error) {
    throw new KegError("unreachable", `Nothing accepts connections on the box's ${LOOPBACK}:${port} (${(error as Error).message}). Start the server in the run first.`);
  }
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
    if (typeof data !== "string") udp.send(data);
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
    const box = await boxSide(protocol, port);
    const close = () => ("destroy" in box ? box.destroy() : box.close());
    if (live.exit) {
      close();
      throw new KegError("not_found", `Run ${id} is not running: ports are forwarded only while the run lives.`);
    }
    const upgraded = upgradeToWebSocket(c.env?.server, c.req.raw, (channel) => {
      if (live.exit) {
        close();
        return channel.close(TunnelClose.runEnded, "the run ended");
      }
      if ("destroy" in box) joinTcp(box, channel);
      else joinUdp(box, channel);
      track(live, channel);
    });
    if (!upgraded) {
      close();
      throw new KegError("bad_request", "A tunnel is a WebSocket: send the request with 'Upgrade: websocket'.");
    }
    // Bun answers the upgrade itself; this response is never sent.
    return new Response(null);
  });

  return app;
}
