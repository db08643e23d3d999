/**
 * Port forwarding against its baselines, in one run (docs/performance.md
 * "Port forwarding"). Build first (`npm run build`), then:
 *   bun bench/ports.ts [--mib N] [--rounds N] [--connects N]
 *
 * One Python server on 127.0.0.1 stands for the box's service; one Python
 * client talks to it directly, through `keg exec -p` (a run that only holds
 * the forward open), and through `ssh -L` to a throwaway sshd (default
 * cipher and aes128-gcm). Measured:
 * - throughput: N MiB (default 256) box → here and here → box on one
 *   connection, median MB/s of `--rounds` (default 3), interleaved;
 * - set-up: fresh connection → first byte back (connect, 1 byte each way),
 *   median and p90 of `--connects` (default 50), interleaved.
 *
 * Everything listens on 127.0.0.1. The agent, the keg run, the sshd, its
 * tunnels and temp dirs are removed at the end (also on Ctrl-C).
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/helpers/ports.ts";
import { benchEnv, cleanUp, describeBuild, keg, kegHome, ms, onCleanup, realPython, requireBinaries, startAgent, startSshd, stopProcess, table, tempDir } from "./harness.ts";
import { argValue, median, p90 } from "./lib.ts";

const MiB = 1024 * 1024;
const bytes = Number(argValue("--mib") ?? 256) * MiB;
const rounds = Number(argValue("--rounds") ?? 3);
const connects = Number(argValue("--connects") ?? 50);

requireBinaries();

/** `server.py PORT`: per connection, the first byte says what to do: `d` send BYTES then close, `u` read to EOF then answer `k`, `p` answer one byte. */
const SERVER = `
import socket, sys, threading
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mode = c.recv(1)
    if mode == b"p":
        c.sendall(b"p")
    elif mode == b"d":
        n = int(c.recv(32).split(b"\\n")[0])
        view = memoryview(b"x" * (1 << 20))
        while n > 0:
            n -= c.send(view[: min(n, 1 << 20)])
    elif mode == b"u":
        while c.recv(1 << 20):
            pass
        c.sendall(b"k")
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** `client.py PORT MODE ARG`: prints a JSON list of milliseconds (down/up: one transfer of ARG bytes; ping: ARG fresh connections). */
const CLIENT = `
import json, socket, sys, time
port, mode, arg = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def conn():
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c
out = []
if mode == "ping":
    for _ in range(arg):
        t = time.perf_counter()
        c = conn()
        c.sendall(b"p")
        assert c.recv(1) == b"p"
        out.append((time.perf_counter() - t) * 1000)
        c.close()
elif mode == "down":
    t = time.perf_counter()
    c = conn()
    c.sendall(b"d" + str(arg).encode() + b"\\n")
    got = 0
    buf = bytearray(1 << 20)
    while True:
        n = c.recv_into(buf)
        if not n:
            break
        got += n
    assert got == arg, got
    out.append((time.perf_counter() - t) * 1000)
else:
    t = time.perf_counter()
    c = conn()
    c.sendall(b"u")
    view = memoryview(b"y" * (1 << 20))
    left = arg
    while left > 0:
        left -= c.send(view[: min(left, 1 << 20)])
    c.shutdown(socket.SHUT_WR)
    assert c.recv(1) == b"k"
    out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
`;

/** User + system CPU time of a process so far, in ms (clock ticks of /proc/PID/stat; USER_HZ 100). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function client(python: string, script: string, port: number, mode: string, arg: number): number[] {
  const result = Bun.spawnSync([python, script, String(port), mode, String(arg)], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`client ${mode} on ${port}: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString()) as number[];
}

/** Waits until a ping through `port` comes back (the forward is up end to end). */
async function untilForwarding(python: string, script: string, port: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const result = Bun.spawnSync([python, script, String(port), "ping", "1"], { stdout: "pipe", stderr: "pipe" });
    if (result.exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`${what} did not forward: ${result.stderr.toString()}`);
    await Bun.sleep(50);
  }
}

async function main() {
  const work = tempDir("keg-bench-ports-");
  const python = realPython();
  const [serverPy, clientPy] = [join(work, "server.py"), join(work, "client.py")];
  writeFileSync(serverPy, SERVER);
  writeFileSync(clientPy, CLIENT);
  const boxPort = await freePort();
  const server = Bun.spawn([python, serverPy, String(boxPort)], { stdout: "pipe", stderr: "inherit" });
  onCleanup(() => stopProcess(server));
  await new Response(server.stdout).body!.getReader().read();

  const agent = await startAgent("lab");
  const home = kegHome(agent, "lab", agent.addUser("bench"));
  const paths: { label: string; port: number }[] = [{ label: "direct TCP (loopback)", port: boxPort }];

  const kegPort = await freePort();
  const run = Bun.spawn([keg, "exec", "--box", "lab", "-p", `${boxPort}:${kegPort}`, "--", "sleep", "3600"], { env: benchEnv({ KEG_HOME: home }), stdout: "ignore", stderr: "inherit" });
  onCleanup(() => stopProcess(run, 8000));
  await untilForwarding(python, clientPy, kegPort, "keg -p");
  paths.push({ label: "keg -p (a WebSocket per connection)", port: kegPort });

  const sshd = await startSshd();
  if (sshd) {
    for (const [label, cipher] of [["ssh -L (default cipher)", []], ["ssh -L -c aes128-gcm@openssh.com", ["-c", "aes128-gcm@openssh.com"]]] as const) {
      const port = await freePort();
      const tunnel = Bun.spawn(["ssh", ...sshd.base, ...cipher, "-N", "-o", "ExitOnForwardFailure=yes", "-L", `127.0.0.1:${port}:127.0.0.1:${boxPort}`, "127.0.0.1"], {
        env: sshd.env(true),
        stdout: "ignore",
        stderr: "inherit",
      });
      onCleanup(() => stopProcess(tunnel));
      await untilForwarding(python, clientPy, port, label);
      paths.push({ label, port });
    }
  }

  console.log(`keg ports bench: ${new Date().toISOString()}, ${navigator.hardwareConcurrency} CPUs, ${describeBuild()}, interpreter ${python}`);
  console.log(`${bytes / MiB} MiB per transfer, ${rounds} rounds; ${connects} fresh connections per path for set-up; ssh baseline: ${sshd ? `sshd on 127.0.0.1:${sshd.port}` : "skipped"}\n`);

  // CPU of keg and the agent for the keg path's transfers: where a forward's cost goes.
  const cpu = { keg: 0, agent: 0 };
  const down = new Map<string, number[]>();
  const up = new Map<string, number[]>();
  const setup = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const { label, port } of paths) {
      const before = { keg: cpuMs(run.pid), agent: cpuMs(agent.pid) };
      (down.get(label) ?? down.set(label, []).get(label)!).push(...client(python, clientPy, port, "down", bytes));
      (up.get(label) ?? up.set(label, []).get(label)!).push(...client(python, clientPy, port, "up", bytes));
      if (port === kegPort) {
        cpu.keg += cpuMs(run.pid) - before.keg;
        cpu.agent += cpuMs(agent.pid) - before.agent;
      }
    }
  }
  const slices = 5;
  for (let slice = 0; slice < slices; slice++)
    for (const { label, port } of paths) (setup.get(label) ?? setup.set(label, []).get(label)!).push(...client(python, clientPy, port, "ping", Math.ceil(connects / slices)));

  const mbps = (samples: number[]) => bytes / 1e6 / (median(samples) / 1000);
  const rows = paths.map(({ label }) => [label, mbps(down.get(label)!).toFixed(0), mbps(up.get(label)!).toFixed(0), ms(median(setup.get(label)!)), ms(p90(setup.get(label)!))]);
  console.log(table(["path", "box → here MB/s", "here → box MB/s", "set-up median ms", "set-up p90 ms"], rows));
  const perGB = (total: number) => (total / ((2 * rounds * bytes) / 1e9)).toFixed(0);
  console.log(`\nCPU per GB through the forward: keg ${perGB(cpu.keg)} ms, agent ${perGB(cpu.agent)} ms`);

  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  const rate = (label: string) => Math.min(mbps(down.get(label)!), mbps(up.get(label)!));
  const kegLabel = paths[1]!.label;
  const direct = paths[0]!.label;
  const lines = [`≥ 25 % of direct TCP: keg ${rate(kegLabel).toFixed(0)} MB/s (slower direction) vs ${rate(direct).toFixed(0)} MB/s = ${((100 * rate(kegLabel)) / rate(direct)).toFixed(0)} % → ${verdict(rate(kegLabel) >= 0.25 * rate(direct))}`];
  const sshLabels = paths.slice(2).map((p) => p.label);
  if (sshLabels.length) {
    const bestSsh = sshLabels.reduce((a, b) => (rate(a) > rate(b) ? a : b));
    lines.push(`≥ ssh -L: keg ${rate(kegLabel).toFixed(0)} MB/s vs ${bestSsh} ${rate(bestSsh).toFixed(0)} MB/s → ${verdict(rate(kegLabel) >= rate(bestSsh))}`);
  } else lines.push("≥ ssh -L: no sshd, not measured");
  const extra = median(setup.get(kegLabel)!) - median(setup.get(direct)!);
  lines.push(`set-up within 2 ms of direct TCP: +${ms(extra)} ms → ${verdict(extra <= 2)}`);
  console.log("\n== Targets ==\n");
  console.log(lines.join("\n"));
}

try {
  await main();
} finally {
  await cleanUp();
}
