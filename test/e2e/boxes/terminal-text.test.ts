/**
 * Text that comes from the box or from another user (a lock note, a user's
 * runnable and arguments) reaches the terminal with its control characters
 * escaped, in tables, plain lines and errors alike; `--json` keeps the exact
 * string (docs/security.md "Output").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { lockBox } from "../../helpers/locks.ts";

setDefaultTimeout(60_000);

const EVIL = "\x1b]0;PWNED\x07\x1b[2J\u202e";
const SHOWN = "\\e]0;PWNED\\u0007\\e[2J\\u202e";
const raw = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/;

test.concurrent("another user's hostile note and run words are escaped in list, history, ps and every refusal", async () => {
  await using box = await lockBox(["alice", "bob"]);
  const { alice, bob } = box.users;
  expect((await bob.run(["boxes", "lock", "--note", EVIL])).code).toBe(0);
  const go = box.goFile("evil");
  // The hostile word first: the ps table shows the first 80 characters of a run's words.
  await using held = bob.start(["exec", "--force-command", "--", "env", `X=${EVIL}`, "sh", "-c", `echo ready; while [ ! -e '${go}' ]; do sleep 0.02; done`]);
  await held.out.waitFor(/^ready\n/);

  const outputs = {
    list: await alice.plain(["boxes", "list"]),
    history: await alice.run(["boxes", "history"]),
    ps: await alice.run(["python", "ps"]),
    lock: await alice.run(["boxes", "lock"]),
    unlock: await alice.run(["boxes", "unlock"]),
    run: await alice.run(["python", "run", "ok.py"]),
  };
  for (const [name, result] of Object.entries(outputs)) {
    expect({ name, rawStdout: raw.test(result.stdout), rawStderr: raw.test(result.stderr) }).toEqual({ name, rawStdout: false, rawStderr: false });
    // `unlock`'s refusal names the holder only.
    if (name !== "unlock") expect({ name, shown: (result.stdout + result.stderr).includes(SHOWN) }).toEqual({ name, shown: true });
  }
  expect(outputs.run.code).toBe(75);
  expect(outputs.run.stderr).toStartWith("Error: Box 'lab' is locked by bob (since ");
  expect(outputs.run.stderr).toEndWith(`, note: ${SHOWN}). Use --force-command to override.\n`);

  // --json keeps the exact string.
  const json = JSON.parse((await alice.plain(["boxes", "list", "--json"])).stdout) as { lock_note: string }[];
  expect(json[0]!.lock_note).toBe(EVIL);
  const runs = JSON.parse((await alice.run(["python", "ps", "--json"])).stdout) as { runnable: string }[];
  expect(runs.some((r) => r.runnable.startsWith(`env X=${EVIL} sh -c`))).toBe(true);

  box.go(go);
  expect((await held.result()).code).toBe(0);
});
