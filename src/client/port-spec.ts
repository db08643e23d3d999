/** `-p SRC[:DST][/tcp|udp]`: the pure parser of forward specs (docs/cli.md "Run options"). @module */
import { usageError } from "../errors.ts";
import type { TunnelProtocol } from "../wire/tunnel.ts";

/** `box`: the port on the box's 127.0.0.1; `local`: the port keg listens on here, on 127.0.0.1. */
export type PortSpec = { box: number; local: number; protocol: TunnelProtocol };

const SPEC = /^(\d+)(?::(\d+))?(?:\/([a-z]+))?$/i;
const HINT = "Use -p SRC[:DST][/tcp|udp], ports 1 to 65535, e.g. -p 8080 or -p 8080:9090/udp.";

function port(text: string, spec: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > 65535) throw usageError(`-p '${spec}': port ${text} is not from 1 to 65535. ${HINT}`);
  return value;
}

export function parsePortSpec(spec: string): PortSpec {
  const match = SPEC.exec(spec.trim());
  if (!match) throw usageError(`-p '${spec}' is not a port spec. ${HINT}`);
  const [, box, local, protocol = "tcp"] = match;
  const lower = protocol.toLowerCase();
  if (lower !== "tcp" && lower !== "udp") throw usageError(`-p '${spec}': unknown protocol '${protocol}'. ${HINT}`);
  const boxPort = port(box!, spec);
  return { box: boxPort, local: local === undefined ? boxPort : port(local, spec), protocol: lower };
}

/** Every `-p` value; one local port can take one TCP and one UDP forward. */
export function parsePortSpecs(specs: string[]): PortSpec[] {
  const parsed = specs.map(parsePortSpec);
  const seen = new Set<string>();
  for (const [i, spec] of parsed.entries()) {
    const key = `${spec.local}/${spec.protocol}`;
    if (seen.has(key)) throw usageError(`-p '${specs[i]}': local port ${key} is forwarded twice. Give each forward its own DST.`);
    seen.add(key);
  }
  return parsed;
}
