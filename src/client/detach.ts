/** `--detach`: start the run, print its id and how to follow or stop it. @module */
import { info } from "../log.ts";
import type { Box } from "../config/boxes.ts";
import type { RunSpec } from "../wire/api.ts";
import { postRun } from "./post-run.ts";
import { resultAfterWaiting } from "./waiting.ts";
import type { Upload } from "./pack.ts";

export async function runDetached(box: Box, spec: RunSpec, upload: Upload): Promise<number> {
  const response = await postRun(box, spec, upload);
  const { id } = spec.wait === undefined ? ((await response.json()) as { id: string }) : await resultAfterWaiting<{ id: string }>(box.name, response);
  process.stdout.write(`${id}\n`);
  info(`Started run ${id} on box '${box.name}'.\n  follow it: keg python --reattach ${id} --box ${box.name}\n  stop it:   keg python --kill ${id} --box ${box.name}`);
  return 0;
}
