/**
 * One attached run, CLI side: send the upload, show the frames live (stdout to
 * stdout, stderr to stderr, records decoded), heartbeat while attached, stop
 * the run on Ctrl-C, save downloads, and exit only after the box has ended
 * the cycle (SPEC §4, §5).
 * @module
 */
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { printError, warn } from "../log.ts";
import { encodeRunBody, type RunSpec, type StartedInfo } from "../wire/api.ts";
import { decodeJson, Frame, FrameDecoder } from "../wire/frames.ts";
import { DownloadWriter } from "./downloads.ts";
import { postJson, request } from "./http.ts";
import { uploadBody } from "./progress.ts";
import { OutputPrinter } from "./output-printer.ts";
import { WaitingDisplay } from "./waiting.ts";

export type SessionOptions = { outputFile?: string; cwd: string };

const UPLOAD_ANSWER_TIMEOUT_MS = 10 * 60_000;

/** Shows frames as they come; returns the exit code once the cycle has ended. */
export async function runAttached(box: Box, spec: RunSpec, zip: Uint8Array, options: SessionOptions): Promise<number> {
  const abort = new AbortController();
  let started: StartedInfo | undefined;
  let interrupted = false;
  let answered = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // second Ctrl-C: give up waiting
    interrupted = true;
    process.stderr.write("\nkeg: stopping the run on the box (Ctrl-C again to leave at once)\n");
    if (started) postJson(box, `/v1/runs/${started.id}/stop`, {}).catch(() => {});
    // Still uploading or waiting in line: leave (the box stops a run whose client went
    // away). Once answered, the `started` frame comes first and its handler asks for the stop.
    else if (!answered || waiting.waiting) abort.abort();
  };
  process.on("SIGINT", onSigint);
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const waiting = new WaitingDisplay(box.name);
  // `keg … | head`: the reader of our stdout left; stop the run and end as SIGPIPE would.
  let stdoutGone = false;
  const printer = new OutputPrinter(options.outputFile, () => {
    stdoutGone = true;
    if (started) postJson(box, `/v1/runs/${started.id}/stop`, {}).catch(() => {});
  });
  try {
    let response: Response;
    try {
      response = await request(box, "/v1/runs", {
        method: "POST",
        body: uploadBody(encodeRunBody(spec, zip), "uploading"),
        headers: { "content-type": "application/octet-stream" },
        timeoutMs: UPLOAD_ANSWER_TIMEOUT_MS,
        signal: abort.signal,
      });
    } catch (error) {
      if (!abort.signal.aborted) throw error;
      printError("Interrupted before the run started.");
      return 130;
    }
    answered = true;
    const decoder = new FrameDecoder();
    const downloads = new DownloadWriter(options.cwd);
    const failedDownloads: string[] = [];
    let exitCode: number | undefined;
    let ended = false;
    let warnedStale = false;
    try {
      for await (const chunk of response.body!) {
        for (const frame of decoder.push(chunk)) {
          if (await printer.show(frame)) continue;
          if (waiting.handle(frame)) continue;
          switch (frame.type) {
            case Frame.started:
              waiting.done();
              started = decodeJson<StartedInfo>(frame.payload);
              if (interrupted || stdoutGone) postJson(box, `/v1/runs/${started.id}/stop`, {}).catch(() => {});
              if (!started.forced) {
                const { id, generation } = started;
                heartbeat = setInterval(() => {
                  postJson(box, `/v1/runs/${id}/heartbeat`, { generation }).catch((error) => {
                    if (error instanceof KegError && error.code === "stale" && !warnedStale) {
                      warnedStale = true;
                      warn(`${error.message} The run goes on.`);
                    }
                  });
                }, started.keepalive * 1000);
              }
              break;
            case Frame.exit:
              exitCode = decodeJson<{ code: number }>(frame.payload).code;
              break;
            case Frame.file: {
              const file = decodeJson<{ path: string; size: number }>(frame.payload);
              await downloads.begin(file.path, file.size);
              break;
            }
            case Frame.file_data:
              await downloads.data(frame.payload);
              break;
            case Frame.file_end: {
              const end = decodeJson<{ path: string; ok: boolean; error?: string }>(frame.payload);
              const error = await downloads.end(end.ok, end.error);
              if (error) failedDownloads.push(`Download of '${end.path}' failed: ${error}.`);
              break;
            }
            case Frame.end:
              ended = true;
              break;
          }
        }
      }
    } catch (error) {
      downloads.abort();
      if (error instanceof KegError) throw error; // a refusal after waiting in line
      if (interrupted && !started) return 130;
      if (exitCode === undefined || !ended) {
        if (interrupted && exitCode !== undefined) return 130;
        printError(`Lost the connection to box '${box.name}' before the run ended (${(error as Error).message}); its exit code is unknown. See 'keg python ps --box ${box.name}'.`);
        return 255;
      }
    }
    if (exitCode === undefined) {
      printError(`The stream from box '${box.name}' ended before the run's exit code arrived. See 'keg python ps --box ${box.name}'.`);
      return 255;
    }
    for (const message of failedDownloads) printError(message);
    if (interrupted) return 130;
    if (stdoutGone) return 141;
    if (failedDownloads.length && exitCode === 0) return 1;
    return exitCode;
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    printer.close();
    process.off("SIGINT", onSigint);
  }
}
