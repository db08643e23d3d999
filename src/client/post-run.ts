/**
 * Sending a run to the box: POST /v1/runs with the spec and the zip. A big
 * upload is first checked against the box's `--max-upload` (one small
 * request), so it is refused here, with the limit named, instead of after
 * sending it all; it then goes as a stream, without another copy in memory.
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { encodeRunHead, type Identity, type RunSpec } from "../wire/api.ts";
import { getJson, request } from "./http.ts";
import type { Upload } from "./pack.ts";
import { uploadBody } from "./progress.ts";

/** Uploads above this size are checked against the box's limit first. */
const CHECK_ABOVE_BYTES = 8 * 1024 * 1024;
const UPLOAD_ANSWER_TIMEOUT_MS = 10 * 60_000;

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

/** The sentence for an upload over the box's limit (docs/cli.md "Run options"). */
export function uploadTooLarge(box: Pick<Box, "name">, bytes: number, limit: number): KegError {
  return new KegError(
    "too_large",
    `The upload is ${mib(bytes)} MiB, over box '${box.name}''s limit of ${Math.round(limit / 1048576)} MiB. Upload less, or raise the limit on the box with 'keg-agent serve --max-upload MIB'.`,
  );
}

async function checkUploadSize(box: Box, bytes: number): Promise<void> {
  if (bytes <= CHECK_ABOVE_BYTES) return;
  const { max_upload_bytes: limit } = await getJson<Identity>(box, "/v1/whoami");
  if (limit !== undefined && bytes > limit) throw uploadTooLarge(box, bytes, limit);
}

export async function postRun(box: Box, spec: RunSpec, upload: Upload, signal?: AbortSignal): Promise<Response> {
  await checkUploadSize(box, upload.size);
  return request(box, "/v1/runs", {
    method: "POST",
    body: uploadBody(encodeRunHead(spec), upload, "uploading"),
    headers: { "content-type": "application/octet-stream" },
    timeoutMs: UPLOAD_ANSWER_TIMEOUT_MS,
    signal,
  });
}
