/** `--detach`: start the run, print its id and how to follow or stop it. @module */
import { info } from "../log.ts";
import type { Box } from "../config/boxes.ts";
import { encodeRunBody, type RunSpec } from "../wire/api.ts";
import { request } from "./http.ts";
import { uploadBody } from "./progress.ts";
import { resultAfterWaiting } from "./waiting.ts";

export async function runDetached(box: Box, spec: RunSpec, zip: Uint8Array): Promise<number> {
  const response = await request(box, "/v1/runs", {
    method: "POST",
    body: uploadBody(encodeRunBody(spec, zip), "uploading"),
    headers: { "content-type": "application/octet-stream" },
    timeoutMs: 10 * 60_000,
  });
  const { id } = spec.wait === undefined ? ((await response.json()) as { id: string }) : await resultAfterWaiting<{ id: string }>(box.name, response);
  process.stdout.write(`${id}\n`);
  info(`Started run ${id} on box '${box.name}'.\n  follow it: keg python --reattach ${id} --box ${box.name}\n  stop it:   keg python --kill ${id} --box ${box.name}`);
  return 0;
}
