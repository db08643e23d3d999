/** `keg python --kill/--reattach` with a word that is no run id, and `ps` with one huge argument (docs/cli.md "python ps"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

test.concurrent("--reattach and --kill with a word that is not a run id: exit 2 saying so, nothing asked of the box", async () => {
  await using box = await runBox();
  for (const flag of ["--reattach", "--kill"])
    expect(await box.run(["python", flag, "nope"])).toMatchObject({
      code: 2,
      stdout: "",
      stderr: `Error: ${flag} 'nope' is not a run id. Give an id as 'keg python ps' shows it.\n`,
    });
});

test.concurrent("one run's 100,000-character argument is cut in the ps table, whole in --json", async () => {
  await using box = await runBox();
  const huge = "a".repeat(100_000);
  expect((await box.run(["exec", "--", "true", huge])).code).toBe(0);
  const table = await box.run(["python", "ps"]);
  expect(table.code).toBe(0);
  expect(Math.max(...table.stdout.split("\n").map((line) => line.length))).toBeLessThan(300);
  expect(table.stdout).toContain("…");
  const runs = JSON.parse((await box.run(["python", "ps", "--json"])).stdout) as { runnable: string }[];
  expect(runs[0]!.runnable).toBe(`true ${huge}`);
});

test.concurrent("more than 10,000 words for a run or for pip: exit 2 naming the limit, nothing sent", async () => {
  await using box = await runBox({ "ok.py": "print('ok')\n" });
  const many = Array.from({ length: 10_001 }, (_, i) => `w${i}`);
  expect(await box.run(["python", "run", "ok.py", ...many])).toMatchObject({ code: 2, stderr: "Error: 10,001 script arguments are over the limit of 10,000. Pass them in a file instead.\n" });
  expect(await box.run(["pip", "install", ...many.slice(1)])).toMatchObject({ code: 2, stderr: "Error: 10,001 pip words are over the limit of 10,000. Pass them in a file instead.\n" });
  expect(JSON.parse((await box.run(["python", "ps", "--json"])).stdout)).toEqual([]);
});
