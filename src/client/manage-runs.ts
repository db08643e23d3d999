/** `keg python --kill`, `--kill-all`, `--reattach`; they never check locks (docs/locks.md). @module */
import type { Box } from "../config/boxes.ts";
import { usageError } from "../errors.ts";
import { printError, info } from "../log.ts";
import { Frame } from "../wire/frames.ts";
import { isKillSignal, KILL_SIGNALS } from "../wire/names.ts";
import { tunnelPath } from "../wire/tunnel.ts";
import { EXIT_UNKNOWN, INTERRUPT_CODES } from "./exit-code.ts";
import { postJson, request } from "./http.ts";
import { onInterrupt } from "./interrupts.ts";
import type { Forwards } from "./forwards.ts";
import { OutputPrinter } from "./output-printer.ts";
import { ResumableStream } from "./resume.ts";
import type { PortSpec } from "./port-spec.ts";

export async function killRun(box: Box, id: string, signal = "SIGTERM"): Promise<number> {
  const name = signal.toUpperCase().startsWith("SIG") ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  if (!isKillSignal(name)) throw usageError(`--signal '${signal}' is not one of ${KILL_SIGNALS.join(", ")}.`);
  const { sent } = await postJson<{ sent: boolean }>(box, `/v1/runs/${encodeURIComponent(id)}/kill`, { signal: name });
  info(sent ? `Sent ${name} to run ${id}` : `Run ${id} is not running`);
  return 0;
}

export async function killAll(box: Box): Promise<number> {
  const { stopped } = await postJson<{ stopped: string[] }>(box, "/v1/runs/kill-all", {});
  info(stopped.length ? `Stopping ${stopped.length} run${stopped.length === 1 ? "" : "s"}: ${stopped.join(", ")}` : "No runs are running");
  return 0;
}

/**
 * Replays the run's output, follows it live and exits with its code. SIGINT,
 * SIGTERM or SIGHUP stop following and leave the run running.
 */
export async function reattach(box: Box, id: string, ports: PortSpec[] = []): Promise<number> {
  const forwards = ports.length ? await forwardsTo(box, id, ports) : undefined;
  const stopListening = onInterrupt((signal) => {
    process.stderr.write(`\nkeg: stopped following; run ${id} goes on\n`);
    process.exit(INTERRUPT_CODES[signal]);
  });
  try {
    const response = await request(box, `/v1/runs/${encodeURIComponent(id)}/output`, { timeoutMs: 10_000 });
    const printer = new OutputPrinter();
    const stream = new ResumableStream(box);
    stream.resumeOutput(id);
    let code: number | undefined;
    try {
      for await (const frame of stream.frames(response)) {
        if (await printer.show(frame)) continue;
        if (frame.type === Frame.exit) {
          code = frame.payload.code;
          forwards?.close();
        }
      }
    } catch {}
    forwards?.close();
    printer.close();
    if (code === undefined) {
      printError(`Lost the connection to box '${box.name}' before run ${id} ended; its exit code is unknown.`);
      return EXIT_UNKNOWN;
    }
    return code;
  } finally {
    stopListening();
  }
}

/** The `-p` forwards of a reattach, once the box has said the run is live and ours (docs/api.md "Tunnels"). */
async function forwardsTo(box: Box, id: string, specs: PortSpec[]): Promise<Forwards> {
  await Promise.all(specs.map((spec) => request(box, tunnelPath(id, spec.protocol, spec.box))));
  const { Forwards } = await import("./forwards.ts");
  const forwards = await Forwards.open(specs);
  forwards.bind(box, id);
  return forwards;
}
