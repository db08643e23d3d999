/** Plain HTTP to a real agent for the reliability suite: JSON calls and runs, as any client could send them. */
import { zipSync } from "fflate";
import { encodeRunBody, type RunSpec } from "../../src/wire/api.ts";
import { decodeFrame, FrameDecoder, type TypedFrame } from "../../src/wire/frames.ts";

export type Api = {
  token: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** POST /v1/runs of an exec run; the answer as it came (a frame stream, or JSON) */
  run(args: string[], options?: Partial<RunSpec>): Promise<Response>;
};

const EMPTY_ZIP = zipSync({});

export function api(url: string, token: string): Api {
  const headers = { authorization: `Bearer ${token}` };
  return {
    token,
    async call(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: response.status, body: parsed };
    },
    run(args, options = {}) {
      const spec: RunSpec = { command: "exec", args, env: {}, timeout: 0, box: "lab", downloads: [], detach: false, force: false, ...options };
      return fetch(`${url}/v1/runs`, { method: "POST", headers, body: encodeRunBody(spec, EMPTY_ZIP) as Uint8Array<ArrayBuffer> });
    },
  };
}

/** Every frame of a streamed answer (throws when the stream breaks). */
export async function allFrames(response: Response): Promise<TypedFrame[]> {
  const decoder = new FrameDecoder();
  const frames: TypedFrame[] = [];
  for await (const chunk of response.body!) for (const frame of decoder.push(chunk)) frames.push(decodeFrame(frame));
  return frames;
}
