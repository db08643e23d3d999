/** src/agent/container.ts: finding the runtime, and the refusal when there is none that answers (docs/usage.md "Containers"). */
import { expect, test } from "bun:test";
import { ContainerRuntime, containerPlan } from "../../src/agent/container.ts";
import { KegError } from "../../src/errors.ts";

async function refusal(runtime: ContainerRuntime): Promise<KegError> {
  try {
    await runtime.find("lab");
  } catch (error) {
    return error as KegError;
  }
  throw new Error("expected a refusal");
}

test("a --container-runtime that does not answer 'info' is named in the refusal, with the fix", async () => {
  const error = await refusal(new ContainerRuntime({ containerRuntime: "/nonexistent/podman" }));
  expect(error).toBeInstanceOf(KegError);
  expect(error.message).toStartWith("Box 'lab' cannot use its container runtime '/nonexistent/podman' ('podman info' failed");
  expect(error.message).toEndWith("Fix it on the box or run without --image.");
});

test("a runtime that answers is used, and found once", async () => {
  const runtime = new ContainerRuntime({ containerRuntime: "/bin/true" });
  expect(await runtime.find("lab")).toBe("/bin/true");
  expect(await runtime.find("lab")).toBe("/bin/true");
});

test("with --run-as, the container runs as the run user's uid:gid (the image's own names would differ)", () => {
  const plan = { argv: ["python3", "job.py"], env: {}, attached: true, timeoutSeconds: 0, logLimitBytes: 1 };
  const run = { runtime: "podman", image: "img", name: "keg-1", work: "/s/runs/1/work", runDir: "/s/runs/1", libDir: "/s/lib", envNames: [], devices: [], command: ["python3", "job.py"] };
  const argv = containerPlan(plan, { ...run, user: "1001:1002" }).argv;
  expect(argv.slice(argv.indexOf("--user"), argv.indexOf("--user") + 2)).toEqual(["--user", "1001:1002"]);
  expect(containerPlan(plan, run).argv).not.toContain("--user");
});
