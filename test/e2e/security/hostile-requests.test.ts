/**
 * Requests a hostile or broken client sends straight to the agent get a 4xx
 * with the JSON error shape, change nothing, and leave the box free: one
 * regression test per defect found by hostile testing (docs/security.md).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { encodeRunBody, type RunSpec } from "../../../src/wire/api.ts";
import { expectNextRunWorks, runBox, type RunBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

const spec: RunSpec = { command: "python", entry: "job.py", args: [], env: {}, timeout: 0, box: "lab", downloads: [], detach: false, force: false };
const job = zipSync({ "job.py": strToU8("print('ran')\n") });

const send = (box: RunBox, path: string, body: BodyInit | null, headers: Record<string, string> = {}) =>
  fetch(`${box.agent.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${box.user.token}`, "content-type": "application/json", ...headers }, body });

const postRun = (box: RunBox, runSpec: unknown, zip = job) =>
  send(box, "/v1/runs", encodeRunBody(runSpec as RunSpec, zip) as Uint8Array<ArrayBuffer>, { "content-type": "application/octet-stream" });

async function expectRefused(response: Response, status: number, says: RegExp) {
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect({ status: response.status, says: says.test(body.error?.message ?? "") }).toEqual({ status, says: true });
}

describe("hostile requests", () => {
  test.concurrent("a heartbeat without a valid generation cannot forge a command lock (400), and the box stays free", async () => {
    await using box = await runBox({ "ok.py": "print('ok')\n" });
    expect((await box.run(["python", "run", "ok.py"])).code).toBe(0);
    const id = JSON.parse((await box.run(["python", "ps", "--json"])).stdout)[0].id;
    for (const body of ["{}", '{"generation":"1"}', '{"generation":null}', '{"generation":1.5}']) await expectRefused(await send(box, `/v1/runs/${id}/heartbeat`, body), 400, /generation/);
    await expectRefused(await send(box, `/v1/runs/${id}/heartbeat`, "null"), 400, /JSON object/);
    // A well-formed generation that is not current is refused too, and writes nothing.
    await expectRefused(await send(box, `/v1/runs/${id}/heartbeat`, '{"generation":1}'), 409, /stale/);
    const status = await (await fetch(`${box.agent.url}/v1/status`, { headers: { authorization: `Bearer ${box.user.token}` } })).json();
    expect(status.command_lock).toBeNull();
    await expectNextRunWorks(box);
  });

  test.concurrent("null bodies and loose values on lock, unlock and kill: 400, nothing locked or forced", async () => {
    await using box = await runBox();
    await expectRefused(await send(box, "/v1/lock", "null"), 400, /JSON object/);
    await expectRefused(await send(box, "/v1/lock", '{"wait":"abc"}'), 400, /wait/);
    await expectRefused(await send(box, "/v1/lock", '{"wait":-5}'), 400, /wait/);
    await expectRefused(await send(box, "/v1/unlock", '{"force":"false"}'), 400, /force/);
    await expectRefused(await send(box, "/v1/runs/kill-all", "null"), 400, /JSON object/);
    await expectRefused(await send(box, `/v1/runs/${"x".repeat(8000)}/kill`, "{}"), 400, /run id/);
    const history = JSON.parse((await box.run(["boxes", "history", "--json"])).stdout);
    expect(history).toEqual([]);
  });

  test.concurrent("a run spec with a non-string download, or an entry outside the upload, is refused and no lock is left", async () => {
    await using box = await runBox({ "next.py": "print('next')\n" });
    await expectRefused(await postRun(box, { ...spec, downloads: [1] }), 400, /downloads/);
    for (const entry of ["../../../etc/hostname", "/etc/hostname", "a/../../x"]) await expectRefused(await postRun(box, { ...spec, entry }), 400, /entry/);
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
    await expectNextRunWorks(box);
  });

  test.concurrent("a zip entry name longer than the file system takes is a 400, not a 500", async () => {
    await using box = await runBox();
    const zip = zipSync({ "job.py": strToU8("print('ran')\n"), [`${"n".repeat(300)}.txt`]: strToU8("x") });
    await expectRefused(await postRun(box, spec, zip), 400, /over 255 bytes/);
    await expectNextRunWorks(box);
  });

  test.concurrent("the Authorization scheme is case-insensitive", async () => {
    await using box = await runBox();
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const response = await fetch(`${box.agent.url}/v1/whoami`, { headers: { authorization: `${scheme} ${box.user.token}` } });
      expect({ scheme, status: response.status }).toEqual({ scheme, status: 200 });
    }
  });

  test.concurrent("more than 20 different wrong tokens in 10 s from one address: 429 with Retry-After, logged; a valid token still passes", async () => {
    await using box = await runBox();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 25; i++) {
      const response = await fetch(`${box.agent.url}/v1/whoami`, { headers: { authorization: `Bearer keg_wrong_${i}` } });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get("retry-after");
      const valid = await fetch(`${box.agent.url}/v1/whoami`, { headers: { authorization: `Bearer ${box.user.token}` } });
      expect(valid.status).toBe(200);
    }
    expect(statuses).toEqual([...Array(21).fill(401), ...Array(4).fill(429)]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(box.agent.output()).toMatch(/event=tokens-held-back peer=127\.0\.0\.1 refused=21 window_s=10 hold_s=10/);
    expect(box.agent.output()).not.toContain("keg_wrong_");
  });
});
