/**
 * A TCP proxy of the test's own on 127.0.0.1, between keg and its agent, that
 * can cut every connection at once (a Wi-Fi blip) and go away for a while
 * (refusing new connections) to show what keg does across a lost connection.
 * It can also hold back what goes to keg past a byte count, so a cut lands at
 * an exact point: with the agent held too (TCP backpressure: it is still in
 * the middle of sending), or not (it runs on to the end of its answer while
 * keg has only part of it). `await using proxy = await tcpProxy(agent.port)`.
 */
import type { Socket, TCPSocketListener } from "bun";

/** `toKeg`: this side's socket is keg's, so what is written to it counts as delivered (and may be held back). */
type Side = { socket?: Socket<Link>; pending: Uint8Array[]; closed: boolean; toKeg: boolean };
/** One proxied connection: keg's side and the agent's, each with what it has not yet taken. */
type Link = { client: Side; upstream: Side };

export type TcpProxy = {
  port: number;
  url: string;
  /** connections cut so far */
  cuts: number;
  /** bytes carried from the agent to keg so far */
  downBytes: number;
  /** bytes carried from keg to the agent so far */
  upBytes: number;
  /** bytes written to keg's sockets so far (downBytes less what is queued or held) */
  downDelivered: number;
  /**
   * From when `downDelivered` reaches `at` (default: now), nothing more goes to
   * keg until `release()`. With `agentToo` the agent's sockets are no longer
   * read either, so the agent stalls mid-answer; without, the proxy keeps
   * reading and queues it, so the agent goes on as if keg had it all.
   */
  hold(options?: { at?: number; agentToo?: boolean }): void;
  /** lifts a hold: what was held goes to keg (unless cut meanwhile) */
  release(): void;
  /** closes every open connection, both ways, at once */
  cutAll(): void;
  /** cuts everything and stops listening: new connections are refused until `up()` */
  down(): void;
  /** listens again on the same port */
  up(): void;
  [Symbol.asyncDispose](): Promise<void>;
};

function close(link: Link): void {
  for (const side of [link.client, link.upstream]) {
    if (side.closed) continue;
    side.closed = true;
    side.pending = [];
    side.socket?.terminate();
  }
}

export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  let listener: TCPSocketListener<Link> | undefined;
  let port = 0;
  /** downDelivered may not pass it */
  let downLimit = Infinity;
  let holdAgent = false;

  /** Writes what the hold allows of `data`; returns the bytes written. */
  function write(side: Side, data: Uint8Array): number {
    const room = side.toKeg ? Math.max(0, downLimit - proxy.downDelivered) : Infinity;
    const allowed = room < data.length ? data.subarray(0, room) : data;
    const written = allowed.length ? side.socket!.write(allowed) : 0;
    if (side.toKeg) proxy.downDelivered += written;
    return written;
  }

  function send(side: Side, data: Uint8Array): void {
    if (side.closed) return;
    if (!side.socket || side.pending.length) {
      side.pending.push(new Uint8Array(data)); // a copy: the socket may reuse its buffer
      return;
    }
    const written = write(side, data);
    if (written < data.length) side.pending.push(new Uint8Array(data.subarray(written)));
  }

  function flush(side: Side): void {
    while (side.socket && side.pending.length && !side.closed) {
      const next = side.pending[0]!;
      const written = write(side, next);
      if (written < next.length) {
        side.pending[0] = next.subarray(written);
        return;
      }
      side.pending.shift();
    }
  }

  const proxy: TcpProxy = {
    port: 0,
    url: "",
    cuts: 0,
    downBytes: 0,
    upBytes: 0,
    downDelivered: 0,
    hold({ at, agentToo = false } = {}) {
      downLimit = at ?? proxy.downDelivered;
      holdAgent = agentToo;
    },
    release() {
      downLimit = Infinity;
      holdAgent = false;
      for (const link of links) {
        link.upstream.socket?.resume();
        flush(link.client);
      }
    },
    cutAll() {
      for (const link of links) close(link);
      proxy.cuts += links.size;
      links.clear();
    },
    down() {
      listener?.stop(true);
      listener = undefined;
      proxy.cutAll();
    },
    up() {
      listener ??= listen();
    },
    async [Symbol.asyncDispose]() {
      proxy.down();
    },
  };

  function listen(): TCPSocketListener<Link> {
    return Bun.listen<Link>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const link: Link = { client: { socket: client, pending: [], closed: false, toKeg: true }, upstream: { pending: [], closed: false, toKeg: false } };
          client.data = link;
          links.add(link);
          void Bun.connect<Link>({
            hostname: "127.0.0.1",
            port: targetPort,
            data: link,
            socket: {
              open(upstream) {
                if (link.upstream.closed) return void upstream.end();
                link.upstream.socket = upstream;
                flush(link.upstream);
              },
              data(upstream, data) {
                proxy.downBytes += data.length;
                send(link.client, data);
                // Held with the agent: once the hold is reached, stop reading it (it stalls mid-answer).
                if (holdAgent && proxy.downDelivered >= downLimit) upstream.pause();
              },
              drain: () => flush(link.upstream),
              close: () => close(link),
              error: () => close(link),
            },
          }).catch(() => close(link));
        },
        data(client, data) {
          proxy.upBytes += data.length;
          send(client.data.upstream, data);
        },
        drain: (client) => flush(client.data.client),
        close: (client) => close(client.data),
        error: (client) => close(client.data),
      },
    });
  }

  listener = listen();
  port = listener.port;
  proxy.port = port;
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}
