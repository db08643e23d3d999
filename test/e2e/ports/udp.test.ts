/** On the compiled binaries with real Python: `-p SRC:DST/udp` carries datagrams both ways, per local peer (docs/api.md "Tunnels"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { freePort, SERVE_PY, udpAsk } from "../../helpers/ports.ts";
import { runBox, StreamText } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";

setDefaultTimeout(60_000);

test("a UDP echo on the box answers datagrams through /udp, each local peer its own answers", async () => {
  await using box = await runBox({ "serve.py": SERVE_PY });
  using gate = tempDir("keg-gate-");
  const [src, dst] = [await freePort(), await freePort()];
  const keg = box.spawn(["python", "run", "serve.py", "udp-echo", String(src), gate.path, "-p", `${src}:${dst}/udp`]);
  await new StreamText(keg.stdout).waitFor(/listening\n/, 15_000);
  expect(await udpAsk(dst, "hello")).toBe("echo:hello");
  const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => udpAsk(dst, `peer ${i}`)));
  expect(answers).toEqual(["echo:peer 0", "echo:peer 1", "echo:peer 2", "echo:peer 3"]);
  writeFileSync(gate.join("stop"), "");
  expect(await keg.exited).toBe(0);
});
