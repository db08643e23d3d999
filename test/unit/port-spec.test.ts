/** `-p SRC[:DST][/tcp|udp]` (docs/cli.md "Run options"): the parser alone. */
import { describe, expect, test } from "bun:test";
import { KegError } from "../../src/errors.ts";
import { parsePortSpec, parsePortSpecs } from "../../src/client/port-spec.ts";

const HINT = "Use -p SRC[:DST][/tcp|udp], ports 1 to 65535, e.g. -p 8080 or -p 8080:9090/udp.";

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof KegError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("no refusal");
}

describe("parsePortSpec", () => {
  test("SRC alone: the same port here, TCP", () => {
    expect(parsePortSpec("8080")).toEqual({ box: 8080, local: 8080, protocol: "tcp" });
  });
  test("SRC:DST, and a protocol in any case", () => {
    expect(parsePortSpec("8080:9090")).toEqual({ box: 8080, local: 9090, protocol: "tcp" });
    expect(parsePortSpec("5000/udp")).toEqual({ box: 5000, local: 5000, protocol: "udp" });
    expect(parsePortSpec("1:65535/TCP")).toEqual({ box: 1, local: 65535, protocol: "tcp" });
  });
  test("each bad spec is a usage error (exit 2) naming the problem and the form", () => {
    const cases: [string, string][] = [
      ["abc", `-p 'abc' is not a port spec. ${HINT}`],
      ["", `-p '' is not a port spec. ${HINT}`],
      ["80:", `-p '80:' is not a port spec. ${HINT}`],
      [":80", `-p ':80' is not a port spec. ${HINT}`],
      ["-1", `-p '-1' is not a port spec. ${HINT}`],
      ["80.5", `-p '80.5' is not a port spec. ${HINT}`],
      ["0", `-p '0': port 0 is not from 1 to 65535. ${HINT}`],
      ["65536", `-p '65536': port 65536 is not from 1 to 65535. ${HINT}`],
      ["80:99999999999999999999", `-p '80:99999999999999999999': port 99999999999999999999 is not from 1 to 65535. ${HINT}`],
      ["80/sctp", `-p '80/sctp': unknown protocol 'sctp'. ${HINT}`],
      ["80/", `-p '80/' is not a port spec. ${HINT}`],
    ];
    for (const [spec, message] of cases) expect({ spec, ...refusal(() => parsePortSpec(spec)) }).toEqual({ spec, code: "usage", message });
  });
});

describe("parsePortSpecs", () => {
  test("keeps every forward in order; a local port may take one TCP and one UDP forward", () => {
    expect(parsePortSpecs(["8080", "53:5353/udp", "5353:5353"])).toEqual([
      { box: 8080, local: 8080, protocol: "tcp" },
      { box: 53, local: 5353, protocol: "udp" },
      { box: 5353, local: 5353, protocol: "tcp" },
    ]);
  });
  test("one local port forwarded twice is refused", () => {
    expect(refusal(() => parsePortSpecs(["8080", "9090:8080"]))).toEqual({
      code: "usage",
      message: "-p '9090:8080': local port 8080/tcp is forwarded twice. Give each forward its own DST.",
    });
  });
});
