/**
 * `--image` runs (docs/usage.md "Containers"): the box's container runtime
 * (`serve --container-runtime`, else the first of podman and docker whose
 * `info` answers), the `RUNTIME run` command a run becomes, and signals that
 * reach the container by its name through the runtime: a signal to the `run`
 * client is not the container's, and killing a `docker run` client leaves its
 * container running.
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { basename, join } from "node:path";
import { KegError } from "../errors.ts";
import { readJson, runPaths, writeJsonAtomically, type RunPlan } from "./run-files.ts";
import { signalGroup } from "./signals.ts";

/** A run's container: signals go to it through its runtime. */
export type ContainerRef = NonNullable<RunPlan["container"]>;

const INFO_TIMEOUT_MS = 10_000;
const DEFAULT_RUNTIMES = ["podman", "docker"];
/** Where a docker container finds its record channel (docker has no way to pass a descriptor). */
const CHANNEL_IN_CONTAINER = "/run/keg-channel";

function answers(runtime: string): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    execFile(runtime, ["info"], { timeout: INFO_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      resolve({ ok: !error, why: String(stderr).trim().split("\n").pop() || error?.message.split("\n")[0] || "" });
    });
  });
}

/** The box's runtime: found once it answers (a box without one is asked again next time, so installing one needs no restart). */
export class ContainerRuntime {
  private found?: string;

  constructor(private readonly config: { containerRuntime?: string }) {}

  /** The runtime's path or name, or the error a run with `--image` gets (before its upload is read). */
  async find(box: string): Promise<string> {
    if (this.found) return this.found;
    const given = this.config.containerRuntime;
    if (given) {
      const { ok, why } = await answers(given);
      if (!ok) throw new KegError("failed", `Box '${box}' cannot use its container runtime '${given}' ('${basename(given)} info' failed${why ? `: ${why}` : ""}). Fix it on the box or run without --image.`);
      return (this.found = given);
    }
    for (const runtime of DEFAULT_RUNTIMES) if ((await answers(runtime)).ok) return (this.found = runtime);
    throw new KegError("failed", `Box '${box}' has neither podman nor docker. Install one on the box or run without --image.`);
  }
}

export type ContainerRun = {
  runtime: string;
  image: string;
  /** `keg-<run id>` */
  name: string;
  /** the run folder's `work/`: mounted at the same path and the working directory, so every path the run is given holds inside */
  work: string;
  /** the run folder: docker's record channel lives in its tmp/ */
  runDir: string;
  /** the `keg` module's folder, mounted read-only so `import keg` works */
  libDir: string;
  /** the variables the container gets (the run's own, not the agent's: the image keeps its PATH and HOME) */
  envNames: string[];
  devices: string[];
  /** `--run-as`: the container runs as that user's `uid:gid` (a name would be looked up in the image's own users) */
  user?: string;
  /** what runs inside */
  command: string[];
};

const isPodman = (runtime: string) => basename(runtime).includes("podman");

/**
 * The run's plan inside a container. The record channel, fd 3: podman passes
 * it in (`--preserve-fds 1`); docker cannot, so the channel is a FIFO in the
 * run folder, mounted into the container and opened there as fd 3 by
 * `/bin/sh` (which the image must have), and copied to the real fd 3 outside.
 * `--init` gives the script an init as PID 1, so it gets signals and exit
 * codes as on the box.
 */
export function containerPlan(plan: RunPlan, run: ContainerRun): RunPlan {
  const podman = isPodman(run.runtime);
  // In the run's tmp/: the run user's (with --run-as the client runs as that user).
  const fifo = join(runPaths(run.runDir).tmp, "keg-channel");
  const options = [
    "--rm",
    "--init",
    "--name", run.name,
    "--volume", `${run.work}:${run.work}`,
    "--volume", `${run.libDir}:${run.libDir}:ro`,
    "--workdir", run.work,
    ...run.envNames.flatMap((name) => ["--env", name]),
    ...run.devices.flatMap((device) => ["--device", device]),
    ...(run.user ? ["--user", run.user] : []),
    ...(podman ? ["--preserve-fds", "1"] : ["--volume", `${fifo}:${CHANNEL_IN_CONTAINER}`]),
  ];
  const inside = podman ? run.command : ["/bin/sh", "-c", `exec 3>${CHANNEL_IN_CONTAINER} && exec "$@"`, "sh", ...run.command];
  const client = [run.runtime, "run", ...options, run.image, ...inside];
  const argv = podman ? client : ["/bin/sh", "-c", 'mkfifo -m 600 "$0" && { cat "$0" >&3 & } && exec "$@"', fifo, ...client];
  return { ...plan, argv, container: { runtime: run.runtime, name: run.name } };
}

/** Kept beside the run (not the plan: its environment never touches the disk), so stops find it after a restart too. */
export function keepContainer(runDir: string, plan: RunPlan): void {
  if (plan.container) writeJsonAtomically(runPaths(runDir).container, plan.container);
}

/** The container of the run in `runDir`, if it has one. */
export function containerOf(runDir: string): ContainerRef | undefined {
  return readJson<ContainerRef>(runPaths(runDir).container);
}

/**
 * Signals a run led by `pid`: a container through its runtime, by name (a
 * SIGKILL also ends the client's group); anything else as its process group.
 * False when the run is gone.
 */
export function signalRun(container: ContainerRef | undefined, pid: number, signal: NodeJS.Signals | 0): boolean {
  if (!container || signal === 0) return signalGroup(pid, signal);
  if (!signalGroup(pid, 0)) return false;
  spawn(container.runtime, ["kill", "--signal", signal, container.name], { stdio: "ignore", detached: true })
    .on("error", () => {})
    .unref();
  if (signal === "SIGKILL") signalGroup(pid, "SIGKILL");
  return true;
}
