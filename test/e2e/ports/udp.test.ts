/** On the compiled binaries with real Python: `-p SRC:DST/udp` carries datagrams both ways, per local peer (docs/api.md "Tunnels"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { forwarded, udpAsk } from "../../helpers/ports.ts";

setDefaultTimeout(60_000);

test("a UDP echo on the box answers datagrams through /udp, each local peer its own answers", async () => {
  await using run = await forwarded("udp-echo", { udp: true });
  expect(await udpAsk(run.dst, "hello")).toBe("echo:hello");
  const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => udpAsk(run.dst, `peer ${i}`)));
  expect(answers).toEqual(["echo:peer 0", "echo:peer 1", "echo:peer 2", "echo:peer 3"]);
  expect(await run.stop()).toBe(0);
});
