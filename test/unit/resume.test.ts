/**
 * src/client/resume.ts against a small server of the test's own: the offset
 * counts the spooled frames (and what a `dropped` frame skipped), a break
 * resumes the attached cycle at it, and a refusal ends the stream
 * (docs/api.md "Resuming").
 */
import { afterEach, expect, test } from "bun:test";
import { ResumableStream, ResumeRefused } from "../../src/client/resume.ts";
import { encodeFrame, encodeJsonFrame, Frame, type TypedFrame } from "../../src/wire/frames.ts";

const text = (s: string) => new TextEncoder().encode(s);
const started = { id: crypto.randomUUID(), generation: 7, keepalive: 20, forced: false, reconnect_grace: 1 };
const exit = { code: 4, signal: null, status: "exited" as const, ended: "2026-01-01T00:00:00Z" };

let server: ReturnType<typeof Bun.serve> | undefined;
afterEach(() => server?.stop(true));

/** Serves `first` and ends the stream there, before any `end` frame (a real cut: test/e2e/runs/connection-blips.test.ts); every resume gets `answer(body)`. */
function serve(first: Uint8Array[], answer: (body: { generation: number; from: number }) => Response) {
  const resumes: unknown[] = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      if (request.method === "POST") {
        const body = (await request.json()) as { generation: number; from: number };
        resumes.push(body);
        return answer(body);
      }
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of first) controller.enqueue(chunk);
          controller.close();
        },
      });
      return new Response(stream);
    },
  });
  const box = { name: "lab", address: `http://127.0.0.1:${server.port}`, token: "t" };
  return { box, resumes };
}

async function collect(stream: ResumableStream, response: Response): Promise<TypedFrame[]> {
  const frames: TypedFrame[] = [];
  for await (const frame of stream.frames(response)) {
    frames.push(frame);
    if (frame.type === Frame.started) stream.resumeCycle(frame.payload);
  }
  return frames;
}

test("a break resumes the cycle at the bytes of the spooled frames received, with the grant's generation", async () => {
  const a = encodeFrame(Frame.stdout, text("a"));
  const b = encodeFrame(Frame.stderr, text("bb"));
  const { box, resumes } = serve(
    [encodeJsonFrame(Frame.started, started), a, encodeJsonFrame(Frame.keepalive, {}), b, encodeJsonFrame(Frame.dropped, { bytes: 100 })],
    () => new Response(Buffer.concat([encodeFrame(Frame.stdout, text("c")), encodeJsonFrame(Frame.exit, exit), encodeJsonFrame(Frame.end, { released: true })])),
  );
  const stream = new ResumableStream(box);
  const frames = await collect(stream, await fetch(box.address));
  expect(resumes).toEqual([{ generation: 7, from: a.length + b.length + 100 }]);
  expect(frames.filter((f) => f.type === Frame.stdout || f.type === Frame.stderr).map((f) => new TextDecoder().decode(f.payload as Uint8Array))).toEqual(["a", "bb", "c"]);
  expect(frames.at(-1)).toEqual(expect.objectContaining({ type: Frame.end }));
});

test("the box refuses the resume: ResumeRefused with its sentence, no more tries", async () => {
  const { box, resumes } = serve([encodeJsonFrame(Frame.started, started)], () =>
    Response.json({ error: { code: "stale", message: "The run was stopped: the connection was lost for more than 1 s." } }, { status: 409 }),
  );
  const error = await collect(new ResumableStream(box), await fetch(box.address)).catch((e) => e);
  expect(error).toBeInstanceOf(ResumeRefused);
  expect(error.message).toBe("The run was stopped: the connection was lost for more than 1 s.");
  expect(resumes).toHaveLength(1);
});

test("a stream that ends before `started` is not resumed: it ends there, as before", async () => {
  const { box, resumes } = serve([encodeFrame(Frame.stdout, text("early"))], () => new Response(""));
  const frames = await collect(new ResumableStream(box), await fetch(box.address));
  expect(frames.map((f) => f.type)).toEqual([Frame.stdout]);
  expect(resumes).toHaveLength(0);
});

test("a break inside an output frame: its first part is shown at once, and after the resume (at the frame's start) only the rest", async () => {
  const a = encodeFrame(Frame.stdout, text("a"));
  const cut = encodeFrame(Frame.stdout, text("0123456789"));
  const { box, resumes } = serve([encodeJsonFrame(Frame.started, started), a, cut.subarray(0, 10)], () =>
    new Response(Buffer.concat([cut, encodeJsonFrame(Frame.exit, exit), encodeJsonFrame(Frame.end, { released: true })])),
  );
  const stream = new ResumableStream(box);
  const frames = await collect(stream, await fetch(box.address));
  expect(resumes).toEqual([{ generation: 7, from: a.length }]);
  const output = frames.filter((f) => f.type === Frame.stdout).map((f) => new TextDecoder().decode(f.payload as Uint8Array));
  expect(output.join("")).toBe("a0123456789");
  expect(output).toContain("01234");
  expect(stream.offset).toBe(a.length + cut.length + encodeJsonFrame(Frame.exit, exit).length);
});

test("a break inside an output frame that the box then dropped: the dropped count leaves out what was shown of it", async () => {
  const cut = encodeFrame(Frame.stdout, text("0123456789"));
  const { box } = serve([encodeJsonFrame(Frame.started, started), cut.subarray(0, 10)], () =>
    new Response(Buffer.concat([encodeJsonFrame(Frame.dropped, { bytes: 1000 }), encodeFrame(Frame.stdout, text("z")), encodeJsonFrame(Frame.exit, exit), encodeJsonFrame(Frame.end, { released: true })])),
  );
  const stream = new ResumableStream(box);
  const frames = await collect(stream, await fetch(box.address));
  expect(frames.filter((f) => f.type === Frame.stdout).map((f) => new TextDecoder().decode(f.payload as Uint8Array))).toEqual(["01234", "z"]);
  expect(frames.find((f) => f.type === Frame.dropped)?.payload).toEqual({ bytes: 995 });
  expect(stream.offset).toBe(1000 + encodeFrame(Frame.stdout, text("z")).length + encodeJsonFrame(Frame.exit, exit).length);
});

test("two breaks inside the same output frame, the second before the resumed stream got back to what was shown: still every byte once", async () => {
  const cut = encodeFrame(Frame.stdout, text("0123456789"));
  let resumes = 0;
  const { box } = serve([encodeJsonFrame(Frame.started, started), cut.subarray(0, 11)], () => {
    resumes++;
    // The first resume breaks after 3 of the 6 payload bytes already shown; the second goes on to the end.
    if (resumes === 1) return new Response(Buffer.from(cut.subarray(0, 8)));
    return new Response(Buffer.concat([cut, encodeJsonFrame(Frame.exit, exit), encodeJsonFrame(Frame.end, { released: true })]));
  });
  const frames = await collect(new ResumableStream(box), await fetch(box.address));
  expect(resumes).toBe(2);
  expect(frames.filter((f) => f.type === Frame.stdout).map((f) => new TextDecoder().decode(f.payload as Uint8Array)).join("")).toBe("0123456789");
});
