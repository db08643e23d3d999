/**
 * What the port-forwarding tests share: free ports, a Python server for the
 * box (TCP echo, TCP flood, UDP echo), and small socket clients.
 */
import { createSocket } from "node:dgram";
import { connect, createServer, type Socket } from "node:net";
import { writeFileSync } from "node:fs";
import { runBox, StreamText, type RunBox } from "./run.ts";
import { tempDir, type TempDir } from "./tmp.ts";
import { until } from "./until.ts";

/** A port nothing listens on right now (TCP and UDP). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4");
      socket.once("error", () => resolve(false));
      socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

/**
 * `serve.py MODE PORT GATE`: listens on 127.0.0.1:PORT (after GATE/listen
 * exists, for `late-` modes), prints `listening`, serves until GATE/stop exists.
 * tcp-echo: echoes each connection until its EOF; tcp-flood: sends FLOOD_BYTES
 * to each connection, writing the count sent so far to GATE/sent;
 * tcp-sink: reads nothing until GATE/read exists, then counts each connection's
 * bytes to its EOF into GATE/received; udp-echo: answers each datagram with
 * `echo:` and the datagram.
 */
export const FLOOD_BYTES = 1024 ** 3;
export const SERVE_PY = `
import os, socket, sys, threading, time
mode, port, gate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stopped = lambda: os.path.exists(os.path.join(gate, "stop"))
if mode.startswith("late-"):
    mode = mode[5:]
    while not os.path.exists(os.path.join(gate, "listen")):
        time.sleep(0.01)

def echo(c):
    while True:
        data = c.recv(1 << 16)
        if not data:
            break
        c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    c.close()

def flood(c):
    chunk = b"f" * (1 << 16)
    sent = 0
    last = 0
    while sent < ${FLOOD_BYTES}:
        sent += c.send(chunk)
        if sent - last >= 1 << 22 or sent >= ${FLOOD_BYTES}:
            last = sent
            with open(os.path.join(gate, "sent.tmp"), "w") as f:
                f.write(str(sent))
            os.replace(os.path.join(gate, "sent.tmp"), os.path.join(gate, "sent"))
    c.close()

def sink(c):
    while not os.path.exists(os.path.join(gate, "read")):
        time.sleep(0.01)
    total = 0
    while True:
        data = c.recv(1 << 16)
        if not data:
            break
        total += len(data)
    with open(os.path.join(gate, "received.tmp"), "w") as f:
        f.write(str(total))
    os.replace(os.path.join(gate, "received.tmp"), os.path.join(gate, "received"))
    c.close()

if mode == "udp-echo":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.05)
    print("listening", flush=True)
    while not stopped():
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        s.sendto(b"echo:" + data, peer)
    sys.exit(0)

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
s.settimeout(0.05)
print("listening", flush=True)
handler = {"tcp-echo": echo, "tcp-flood": flood, "tcp-sink": sink}[mode]
while not stopped():
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(None)
    threading.Thread(target=handler, args=(c,), daemon=True).start()
`;

/** A TCP connection to 127.0.0.1:`port`, connected. */
export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

/** Sends `data`, ends the writing side, and resolves with everything that came back until the peer closed. */
export async function exchange(port: number, data: Uint8Array): Promise<Buffer> {
  const socket = await dial(port);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("error", reject);
    socket.once("close", () => resolve(Buffer.concat(chunks)));
  });
  socket.end(data);
  return done;
}

/** How a connection to a forward ended: `closed` without any byte, or the bytes it got. */
export async function connectionOutcome(port: number): Promise<"refused" | "closed" | Buffer> {
  let socket: Socket;
  try {
    socket = await dial(port);
  } catch {
    return "refused";
  }
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.once("close", () => resolve(chunks.length ? Buffer.concat(chunks) : "closed"));
    socket.end("ping\n");
  });
}

/** Sends one datagram from a fresh local socket and resolves with the first answer. */
export async function udpAsk(port: number, text: string, deadlineMs = 5000): Promise<string> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  let answer: string | undefined;
  socket.on("message", (message) => (answer ??= message.toString()));
  try {
    // UDP may drop a datagram while the tunnel opens: ask again until an answer comes.
    return await until(
      () => {
        if (answer === undefined) socket.send(text, port, "127.0.0.1");
        return answer;
      },
      { deadlineMs, what: `an answer to '${text}' on UDP ${port}` },
    );
  } finally {
    socket.close();
  }
}

/** A run of serve.py MODE behind `-p SRC:DST[/udp]` on a fresh agent; `listening` waits for the script's line. */
export type Forwarded = {
  box: RunBox;
  gate: TempDir;
  keg: ReturnType<RunBox["spawn"]>;
  out: StreamText;
  err: StreamText;
  src: number;
  dst: number;
  /** tells the script to end and waits for keg's exit code */
  stop(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
};

export async function forwarded(mode: string, options: { udp?: boolean; agentArgs?: string[]; gate?: TempDir; listening?: boolean } = {}): Promise<Forwarded> {
  const gate = options.gate ?? tempDir("keg-gate-");
  const box = await runBox({ "serve.py": SERVE_PY }, { args: options.agentArgs });
  const [src, dst] = [await freePort(), await freePort()];
  const keg = box.spawn(["python", "run", "serve.py", mode, String(src), gate.path, "-p", `${src}:${dst}${options.udp ? "/udp" : ""}`]);
  const out = new StreamText(keg.stdout);
  const err = new StreamText(keg.stderr);
  if (options.listening !== false) await out.waitFor(/listening\n/, 15_000);
  const stop = () => {
    writeFileSync(gate.join("stop"), "");
    return keg.exited;
  };
  return {
    box,
    gate,
    keg,
    out,
    err,
    src,
    dst,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      await box[Symbol.asyncDispose]();
      gate[Symbol.dispose]();
    },
  };
}
