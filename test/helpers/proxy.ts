/**
 * A TCP proxy of the test's own on 127.0.0.1, between keg and its agent, that
 * can cut every connection at once (a Wi-Fi blip) and go away for a while
 * (refusing new connections) to show what keg does across a lost connection.
 * `await using proxy = await tcpProxy(agent.port)`.
 */
import type { Socket, TCPSocketListener } from "bun";

type Side = { socket?: Socket<Link>; pending: Uint8Array[]; closed: boolean };
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
  /** closes every open connection, both ways, at once */
  cutAll(): void;
  /** cuts everything and stops listening: new connections are refused until `up()` */
  down(): void;
  /** listens again on the same port */
  up(): void;
  [Symbol.asyncDispose](): Promise<void>;
};

function send(side: Side, data: Uint8Array): void {
  if (side.closed) return;
  if (!side.socket || side.pending.length) {
    side.pending.push(new Uint8Array(data)); // a copy: the socket may reuse its buffer
    return;
  }
  const written = side.socket.write(data);
  if (written < data.length) side.pending.push(new Uint8Array(data.subarray(written)));
}

function flush(side: Side): void {
  while (side.socket && side.pending.length && !side.closed) {
    const next = side.pending[0]!;
    const written = side.socket.write(next);
    if (written < next.length) {
      side.pending[0] = next.subarray(written);
      return;
    }
    side.pending.shift();
  }
}

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

  const proxy: TcpProxy = {
    port: 0,
    url: "",
    cuts: 0,
    downBytes: 0,
    upBytes: 0,
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
          const link: Link = { client: { socket: client, pending: [], closed: false }, upstream: { pending: [], closed: false } };
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
