/**
 * `-p` forwards, CLI side: listeners on 127.0.0.1, opened before the upload;
 * each TCP connection, and each UDP peer, becomes its own tunnel to the box
 * once the run id is known (docs/cli.md "Run options", docs/api.md "Tunnels").
 * A tunnel the box refuses closes that local connection only: the listener
 * stays, so a client can retry.
 * @module
 */
import type { RemoteInfo, Socket as UdpSocket } from "node:dgram";
import type { Server, Socket } from "node:net";
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { warn } from "../log.ts";
import { openWebSocket, type MessageSocket } from "../platform/index.ts";
import { TUNNEL_CONNECT, TunnelClose, tunnelPath } from "../wire/tunnel.ts";
import { joinTcp } from "../wire/tunnel-pipe.ts";
import type { PortSpec } from "./port-spec.ts";

// Loaded on first use, not at every start of keg: a static import of a builtin is
// loaded with the binary, and node:net costs milliseconds (docs/performance.md "Start-up").
const netModule = () => process.getBuiltinModule("node:net") as typeof import("node:net");
const dgramModule = () => process.getBuiltinModule("node:dgram") as typeof import("node:dgram");

const LOCAL = "127.0.0.1";
/** A UDP peer quiet this long loses its tunnel (a new datagram opens another). */
const UDP_PEER_IDLE_MS = 120_000;
/** Datagrams kept while a peer's tunnel opens; later ones are dropped, as UDP may. */
const UDP_QUEUE_MAX = 64;

type Target = { box: Pick<Box, "name" | "address" | "token">; runId: string };

function listenError(spec: PortSpec, error: NodeJS.ErrnoException): KegError {
  const where = `local port ${spec.local}/${spec.protocol}`;
  const fix = `Free it, or forward to another local port: -p ${spec.box}:OTHER${spec.protocol === "udp" ? "/udp" : ""}.`;
  if (error.code === "EADDRINUSE") return new KegError("failed", `Cannot forward: ${where} is already in use. ${fix}`);
  return new KegError("failed", `Cannot listen on ${where} (${error.code ?? error.message}). ${fix}`);
}

/** Opens tunnels to the run's box port; says once per forward why a connection got none. */
class TunnelOpener {
  private warned = false;
  private lastError = "";
  constructor(
    private readonly spec: PortSpec,
    private readonly target: Promise<Target>,
  ) {}

  async open(): Promise<MessageSocket | undefined> {
    const { box, runId } = await this.target;
    const url = `${box.address.replace(/^http/, "ws")}${tunnelPath(runId, this.spec.protocol, this.spec.box)}`;
    try {
      return await openWebSocket(url, { authorization: `Bearer ${box.token}` });
    } catch (error) {
      this.lastError = (error as Error).message;
      return undefined;
    }
  }

  /** `refusal`: the box's reason; without it, why the last tunnel could not open. */
  warnOnce(refusal?: string): void {
    if (this.warned) return;
    this.warned = true;
    const { box, protocol } = this.spec;
    const why = refusal
      ? `nothing accepted the connection to the box's ${LOCAL}:${box}/${protocol} (${refusal}): is the script listening yet?`
      : `the box opened no tunnel to its ${LOCAL}:${box}/${protocol} (${this.lastError}).`;
    const lost = protocol === "tcp" ? "The local connection was closed" : "The peer's datagrams were dropped";
    warn(`-p ${box}: ${why} ${lost}; keg keeps listening.`);
  }
}

class TcpForward {
  private readonly connections = new Set<Socket>();
  private readonly opener: TunnelOpener;
  /** A tunnel opened ahead of the next connection: it saves a handshake on each (docs/api.md "Tunnels"). */
  private spare?: Promise<MessageSocket | undefined>;
  private closed = false;
  private constructor(
    private readonly server: Server,
    private readonly spec: PortSpec,
    target: Promise<Target>,
  ) {
    this.opener = new TunnelOpener(spec, target);
    server.on("connection", (socket) => void this.accept(socket));
    void target.then(() => this.openSpare());
  }

  static open(spec: PortSpec, target: Promise<Target>): Promise<TcpForward> {
    const server = netModule().createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    return new Promise((resolve, reject) => {
      server.once("error", (error) => reject(listenError(spec, error)));
      server.listen({ port: spec.local, host: LOCAL, exclusive: true }, () => resolve(new TcpForward(server, spec, target)));
    });
  }

  private openSpare(): void {
    if (this.closed) return;
    const spare = this.opener.open();
    this.spare = spare;
    void spare.then((channel) => {
      // A spare the box closed (the run is ending) is not handed out.
      if (channel) channel.onClose = () => this.spare === spare && (this.spare = undefined);
    });
  }

  private async accept(socket: Socket): Promise<void> {
    this.connections.add(socket);
    socket.once("close", () => this.connections.delete(socket));
    socket.on("error", () => {});
    const spare = this.spare;
    this.spare = undefined;
    const channel = (await spare) ?? (await this.opener.open());
    this.openSpare();
    if (!channel) {
      this.opener.warnOnce();
      return void socket.destroy();
    }
    if (socket.destroyed) return channel.close();
    channel.onClose = undefined;
    channel.send(TUNNEL_CONNECT);
    joinTcp(socket, channel);
    const closed = channel.onClose!;
    channel.onClose = (code, reason) => {
      if (code === TunnelClose.refused) this.opener.warnOnce(reason);
      closed(code, reason);
    };
  }

  close(): void {
    this.closed = true;
    this.server.close();
    void this.spare?.then((channel) => channel?.close());
    for (const socket of this.connections) socket.destroy();
  }
}

type UdpPeer = { channel?: MessageSocket; queue: Uint8Array[]; full: boolean; idle?: ReturnType<typeof setTimeout> };

class UdpForward {
  private readonly peers = new Map<string, UdpPeer>();
  private readonly opener: TunnelOpener;
  private constructor(
    private readonly socket: UdpSocket,
    spec: PortSpec,
    target: Promise<Target>,
  ) {
    this.opener = new TunnelOpener(spec, target);
    socket.on("message", (datagram, from) => this.received(datagram, from));
    socket.on("error", () => {});
  }

  static open(spec: PortSpec, target: Promise<Target>): Promise<UdpForward> {
    const socket = dgramModule().createSocket({ type: "udp4", reuseAddr: false });
    return new Promise((resolve, reject) => {
      socket.once("error", (error) => reject(listenError(spec, error)));
      socket.bind({ port: spec.local, address: LOCAL, exclusive: true }, () => resolve(new UdpForward(socket, spec, target)));
    });
  }

  private received(datagram: Uint8Array, from: RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    let peer = this.peers.get(key);
    if (!peer) {
      peer = { queue: [], full: false };
      this.peers.set(key, peer);
      void this.connect(key, peer, from);
    }
    this.touch(key, peer);
    if (!peer.channel) {
      if (peer.queue.length < UDP_QUEUE_MAX) peer.queue.push(datagram);
    } else if (!peer.full && !peer.channel.send(datagram)) peer.full = true;
  }

  private async connect(key: string, peer: UdpPeer, from: RemoteInfo): Promise<void> {
    const channel = await this.opener.open();
    if (!channel) this.opener.warnOnce();
    if (!channel || this.peers.get(key) !== peer) {
      if (this.peers.get(key) === peer) this.drop(key, peer);
      return channel?.close();
    }
    peer.channel = channel;
    channel.onMessage = (data) => {
      // A datagram still on its way when the forward closed goes nowhere.
      if (typeof data === "string" || this.peers.get(key) !== peer) return;
      this.touch(key, peer);
      this.socket.send(data, from.port, from.address);
    };
    channel.onDrain = () => (peer.full = false);
    channel.onClose = () => {
      if (this.peers.get(key) === peer) this.drop(key, peer);
    };
    for (const datagram of peer.queue.splice(0)) channel.send(datagram);
  }

  private touch(key: string, peer: UdpPeer): void {
    clearTimeout(peer.idle);
    peer.idle = setTimeout(() => this.drop(key, peer), UDP_PEER_IDLE_MS);
    peer.idle.unref();
  }

  private drop(key: string, peer: UdpPeer): void {
    clearTimeout(peer.idle);
    this.peers.delete(key);
    peer.channel?.close();
  }

  close(): void {
    for (const [key, peer] of this.peers) this.drop(key, peer);
    this.socket.close();
  }
}

/** Every `-p` forward of one keg process. */
export class Forwards {
  private bindTo!: (target: Target) => void;
  private readonly target = new Promise<Target>((resolve) => (this.bindTo = resolve));
  private readonly forwards: (TcpForward | UdpForward)[] = [];
  private closed = false;

  /** Listens on every local port, or on none: a busy port is an error naming it. */
  static async open(specs: PortSpec[]): Promise<Forwards> {
    const forwards = new Forwards();
    try {
      for (const spec of specs) forwards.forwards.push(await (spec.protocol === "tcp" ? TcpForward.open : UdpForward.open)(spec, forwards.target));
    } catch (error) {
      forwards.close();
      throw error;
    }
    return forwards;
  }

  /** Connections made before this wait for it: the run id is known once the run has started. */
  bind(box: Target["box"], runId: string): void {
    this.bindTo({ box, runId });
  }

  /** Closes the listeners and every tunnel; the local ports are free again. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const forward of this.forwards) forward.close();
  }
}
