/**
 * A one-line progress display on stderr for transfers over a few MB, only on a
 * terminal: uploads and downloads show progress there, never in a pipe or a log.
 * @module
 */
const MIN_BYTES = 4 * 1024 * 1024;
const EVERY_MS = 100;

const mb = (bytes: number) => (bytes / 1048576).toFixed(1);

export class Progress {
  private done = 0;
  private lastDraw = 0;
  /** whether anything is drawn: a terminal and a big enough transfer */
  readonly shown: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    stream?: { isTTY?: boolean },
  ) {
    // process.stderr only for a big transfer: its first touch costs milliseconds.
    this.shown = total >= MIN_BYTES && Boolean((stream ?? process.stderr).isTTY);
  }

  add(bytes: number): void {
    this.done += bytes;
    if (!this.shown) return;
    const now = performance.now();
    if (now - this.lastDraw < EVERY_MS && this.done < this.total) return;
    this.lastDraw = now;
    const percent = Math.min(100, Math.floor((this.done / this.total) * 100));
    process.stderr.write(`\r\x1b[K${this.label} ${mb(this.done)}/${mb(this.total)} MB ${percent}%`);
  }

  finish(): void {
    if (this.shown && this.lastDraw) process.stderr.write("\r\x1b[K");
  }
}

/**
 * The body to send, `head` then the upload's parts: one buffer when small,
 * else a stream of slices (no copy of a big upload), which shows progress on
 * a terminal.
 */
export function uploadBody(head: Uint8Array, upload: { parts: Uint8Array[]; size: number }, label: string): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
  const progress = new Progress(label, head.length + upload.size);
  if (!progress.shown && upload.size < MIN_BYTES) {
    const body = new Uint8Array(head.length + upload.size);
    body.set(head);
    let offset = head.length;
    for (const part of upload.parts) {
      body.set(part, offset);
      offset += part.length;
    }
    return body;
  }
  const CHUNK = 256 * 1024;
  const pieces = (function* () {
    yield head;
    for (const part of upload.parts) for (let at = 0; at < part.length; at += CHUNK) yield part.subarray(at, at + CHUNK);
  })();
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = pieces.next();
      if (next.done) {
        progress.finish();
        controller.close();
        return;
      }
      progress.add(next.value.length);
      controller.enqueue(next.value);
    },
  });
}
