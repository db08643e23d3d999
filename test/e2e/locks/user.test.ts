/**
 * On the compiled binaries: user locks with their exact sentences and
 * notes, `boxes list`'s lock columns and colour, and
 * `boxes history` naming who did what. docs/locks.md.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { startAgent } from "../../helpers/agent.ts";
import { cleanEnv, kegBin } from "../../helpers/bin.ts";
import { history, ISO, listed, lockBox, running, say } from "../../helpers/locks.ts";

setDefaultTimeout(60_000);

const free = { code: 0, stdout: "", stderr: "" };
const isoRe = new RegExp(`^${ISO}$`);

/** The time in a `locked by X at TIME` line, checked to be now (to the second). */
function lockTime(stdout: string, user: string, before: number, after: number): string {
  const match = new RegExp(`^Box 'lab' locked by ${user} at (${ISO})\\n$`).exec(stdout);
  if (!match) throw new Error(`not a lock line: ${JSON.stringify(stdout)}`);
  const at = Date.parse(match[1]!);
  expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  expect(at).toBeLessThanOrEqual(after);
  return match[1]!;
}

describe("user locks", () => {
  test.concurrent("lock, already locked, lock again, unlock, not locked, needs --force, --force: exact sentences and codes", async () => {
    await using box = await lockBox(["alice", "bob", "carol"]);
    const { alice, bob, carol } = box.users;

    const before = Date.now();
    const locked = await alice.run(["boxes", "lock"]);
    expect({ code: locked.code, stderr: locked.stderr }).toEqual({ code: 0, stderr: "" });
    const since = lockTime(locked.stdout, "alice", before, Date.now());

    expect(await bob.run(["boxes", "lock"])).toEqual({ code: 75, stdout: "", stderr: say.alreadyLocked("alice", since) });
    // The holder locking again gets exit 0 and the original line, even later and with another note.
    expect(await alice.run(["boxes", "lock", "--note", "another note"])).toEqual({ code: 0, stdout: say.lockedLine("alice", since), stderr: "" });
    expect((await listed(bob)).lock_note).toBeNull();

    expect(await bob.run(["boxes", "unlock"])).toEqual({ code: 75, stdout: "", stderr: say.needsForce("alice") });
    expect(await bob.run(["boxes", "unlock", "--force"])).toEqual({ code: 0, stdout: say.unlocked(), stderr: "" });
    expect(await alice.run(["boxes", "unlock"])).toEqual({ code: 0, stdout: say.notLocked(), stderr: "" });

    const relocked = await carol.run(["boxes", "lock"]);
    expect(relocked.code).toBe(0);
    lockTime(relocked.stdout, "carol", before, Date.now());
    expect(await carol.run(["boxes", "unlock"])).toEqual({ code: 0, stdout: say.unlocked(), stderr: "" });
    expect(await carol.run(["boxes", "unlock"])).toEqual({ code: 0, stdout: say.notLocked(), stderr: "" });
  });

  test.concurrent("a note shows in the refusals and in list; the holder runs; others get 75", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const note = "flashing firmware v2";
    const locked = await alice.run(["boxes", "lock", "--note", note]);
    expect(locked.code).toBe(0);
    const since = lockTime(locked.stdout, "alice", Date.now() - 60_000, Date.now());

    expect(await bob.run(["boxes", "lock"])).toEqual({ code: 75, stdout: "", stderr: say.alreadyLocked("alice", since, note) });
    const refusal = { code: 75, stdout: "", stderr: say.locked("alice", since, note) };
    expect(await bob.run(["exec", "--", "true"])).toEqual(refusal);
    expect(await bob.run(["python", "run", "ok.py"])).toEqual(refusal);

    // The holder may run.
    expect(await alice.run(["exec", "--", "true"])).toEqual(free);
    expect(await alice.run(["python", "run", "ok.py"])).toEqual({ code: 0, stdout: "ok\n", stderr: "" });

    // list: the JSON lock fields, and the note in the Locked By column.
    expect(await listed(bob)).toMatchObject({ name: "lab", locked_by: "alice", lock_note: note, locked_since: since, busy: null });
    const table = await bob.plain(["boxes", "list"]);
    expect(table.code).toBe(0);
    const rows = parseTable(table.stdout);
    expect(rows[0]).toMatchObject({ Name: "lab", User: "bob", "Locked By": `alice (${note})`, Busy: "" });
  });

  test.concurrent("--force-command anywhere on the line runs despite the user lock; not after --", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    const ran = { code: 0, stdout: "hi\n", stderr: "" };
    expect(await bob.plain(["--force-command", "exec", "--box", "lab", "--", "echo", "hi"])).toEqual(ran);
    expect(await bob.plain(["exec", "--force-command", "--box", "lab", "--", "echo", "hi"])).toEqual(ran);
    expect(await bob.plain(["exec", "--box", "lab", "--force-command", "--", "echo", "hi"])).toEqual(ran);
    expect(await bob.plain(["python", "--force-command", "run", "ok.py", "--box", "lab"])).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
    expect(await bob.plain(["python", "run", "ok.py", "--box", "lab", "--force-command"])).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
    // After `--` the word belongs to the program (docs/cli.md): not a keg flag.
    const since = (await listed(bob)).locked_since!;
    expect(await bob.plain(["exec", "--box", "lab", "--", "echo", "--force-command"])).toEqual({ code: 75, stdout: "", stderr: say.locked("alice", since) });
    // The lock is untouched by the bypasses.
    expect(await listed(bob)).toMatchObject({ locked_by: "alice", busy: null });
  });

  test.concurrent("--force-command runs beside a running command; the holder keeps its lock and run", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("hold");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    expect(await bob.run(["--force-command", "exec", "--", "echo", "beside"])).toEqual({ code: 0, stdout: "beside\n", stderr: "" });
    expect(await listed(bob)).toMatchObject({ busy: "alice (python)" });
    expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });
    box.go(go);
    expect(await held.result()).toEqual({ code: 0, stdout: "ready\n", stderr: "" });
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);
  });

  test.concurrent("a user lock may be taken while a command runs: the command goes on, the lock applies after", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("hold");
    await using held = bob.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    const locked = await alice.run(["boxes", "lock", "--note", "next"]);
    expect(locked.code).toBe(0);
    const since = lockTime(locked.stdout, "alice", Date.now() - 60_000, Date.now());
    expect(await listed(alice)).toMatchObject({ locked_by: "alice", lock_note: "next", busy: "bob (python)" });
    box.go(go);
    expect(await held.result()).toEqual({ code: 0, stdout: "ready\n", stderr: "" });
    expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.locked("alice", since, "next") });
    expect(await alice.run(["exec", "--", "true"])).toEqual(free);
  });
});

/** A plain `boxes list` table as records, cut at the header's column starts (cells may be empty). */
function parseTable(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split("\n");
  const starts = [...header!.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ title: m[0], at: m.index! }));
  return lines.map((line) =>
    Object.fromEntries(starts.map((col, i) => [col.title, line.slice(col.at, starts[i + 1]?.at ?? line.length).trim()])),
  );
}

const headerOf = (text: string) => [...text.split("\n")[0]!.matchAll(/\S+(?: \S+)*/g)].map((m) => m[0]);

describe("boxes list", () => {
  test.concurrent("Locked By and Busy only when some box has one; no escape codes with NO_COLOR", async () => {
    await using box = await lockBox(["alice"]);
    await using other = await startAgent({ name: "other" });
    const { alice } = box.users;
    const token = await other.addUser("alice");
    expect((await alice.plain(["boxes", "add", "--name", "lab2", "--address", other.url, "--token", token])).code).toBe(0);

    const bare = await alice.plain(["boxes", "list"]);
    expect(bare.code).toBe(0);
    expect(headerOf(bare.stdout)).toEqual(["Name", "Address", "User", "Version", "Status"]);
    expect(parseTable(bare.stdout).map((r) => r.Name)).toEqual(["lab", "lab2"]);
    const bareJson = JSON.parse((await alice.plain(["boxes", "list", "--json"])).stdout);
    // --json always has the lock fields.
    for (const row of bareJson) expect(row).toMatchObject({ locked_by: null, lock_note: null, locked_since: null, busy: null });

    // lab2 busy only: the columns appear.
    const go = box.goFile("lab2");
    await using held = running(alice.spawn(["python", "run", "hold.py", go, "--box", "lab2"], { cwd: box.dir.path }));
    await held.out.waitFor(/^ready\n/);
    const busy = await alice.plain(["boxes", "list"]);
    expect(headerOf(busy.stdout)).toEqual(["Name", "Address", "User", "Version", "Status", "Locked By", "Busy"]);
    expect(parseTable(busy.stdout)).toMatchObject([
      { Name: "lab", "Locked By": "", Busy: "" },
      { Name: "lab2", "Locked By": "", Busy: "alice (python)" },
    ]);

    // lab locked with a note too.
    expect((await alice.run(["boxes", "lock", "--note", "bring-up"])).code).toBe(0);
    const both = await alice.plain(["boxes", "list"]);
    expect(parseTable(both.stdout)).toMatchObject([
      { Name: "lab", "Locked By": "alice (bring-up)", Busy: "" },
      { Name: "lab2", "Locked By": "", Busy: "alice (python)" },
    ]);
    for (const text of [bare.stdout, bare.stderr, busy.stdout, busy.stderr, both.stdout, both.stderr]) expect(text).not.toContain("\x1b[");

    box.go(go);
    expect((await held.result()).code).toBe(0);
    expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    expect(headerOf((await alice.plain(["boxes", "list"])).stdout)).toEqual(["Name", "Address", "User", "Version", "Status"]);
  });

  test.concurrent("on a terminal: Locked By magenta, Busy yellow; NO_COLOR turns colour off there too", async () => {
    await using box = await lockBox(["alice"]);
    const { alice } = box.users;
    const go = box.goFile("hold");
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    // `script` gives keg a pseudo-terminal as stdout.
    const onTty = async (env: Record<string, string | undefined>) => {
      const proc = Bun.spawn(["script", "-qec", `${kegBin()} boxes list`, "/dev/null"], {
        env: cleanEnv({ KEG_HOME: alice.home, ...env }),
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, , code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { stdout, code };
    };
    const colored = await onTty({ NO_COLOR: undefined, TERM: "xterm" });
    expect(colored.code).toBe(0);
    expect(colored.stdout).toContain("\x1b[35malice\x1b[39m");
    expect(colored.stdout).toContain("\x1b[33malice (python)\x1b[39m");
    const plain = await onTty({ NO_COLOR: "1", TERM: "xterm" });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain("alice (python)");
    expect(plain.stdout).not.toContain("\x1b[");
    box.go(go);
    expect((await held.result()).code).toBe(0);
  });
});

describe("boxes history", () => {
  test.concurrent("lock, unlock, forced unlock (with the holder) and forced command, with who did them", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    expect((await alice.run(["boxes", "lock", "--note", "soak test"])).code).toBe(0);
    expect((await bob.run(["boxes", "unlock", "--force"])).code).toBe(0);
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    expect((await bob.run(["exec", "--force-command", "--", "true"])).code).toBe(0);
    expect((await alice.run(["exec", "--", "true"])).code).toBe(0);

    const events = await history(bob);
    for (const e of events) expect(e.time).toMatch(isoRe);
    const pick = ({ event, user, holder, note, command }: Record<string, unknown>) =>
      Object.fromEntries(Object.entries({ event, user, holder, note, command }).filter(([, v]) => v !== undefined));
    expect(events.map(pick)).toEqual([
      { event: "locked", user: "alice" },
      { event: "unlocked", user: "alice", holder: "alice" },
      { event: "locked", user: "alice", note: "soak test" },
      { event: "forced-unlock", user: "bob", holder: "alice", note: "soak test" },
      { event: "locked", user: "alice" },
      { event: "forced-command", user: "bob", holder: "alice", command: "exec" },
      { event: "command-taken", user: "alice", command: "exec" },
      { event: "command-released", user: "alice", command: "exec" },
    ]);
    // Generations only grow (fencing).
    const generations = events.map((e) => e.generation).filter((g): g is number => typeof g === "number");
    expect(generations).toEqual([...generations].sort((a, b) => a - b));

    // The table says the same in words.
    const table = await alice.run(["boxes", "history"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Time\s+User\s+Event\s+Generation$/);
    expect(lines.slice(1).map((l) => l.replace(/^\S+\s+/, "").replace(/\s+\d+$/, "").replace(/\s{2,}/g, "  "))).toEqual([
      "alice  locked the box",
      "alice  unlocked the box",
      "alice  locked the box (soak test)",
      "bob  forced the unlock of alice's lock (soak test)",
      "alice  locked the box",
      "bob  ran 'exec' with --force-command past alice's lock",
      "alice  took the command lock for 'exec'",
      "alice  released the command lock of 'exec'",
    ]);
  });

  test.concurrent("the latest 50, newest last", async () => {
    await using box = await lockBox(["alice"]);
    const { alice } = box.users;
    for (let i = 0; i < 30; i++) {
      expect((await alice.run(["boxes", "lock", "--note", `n${i}`])).code).toBe(0);
      expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    }
    const events = await history(alice);
    expect(events).toHaveLength(50);
    expect(events.at(-1)).toMatchObject({ event: "unlocked", note: "n29" });
    expect(events[0]).toMatchObject({ event: "locked", note: "n5" });
  });
});
