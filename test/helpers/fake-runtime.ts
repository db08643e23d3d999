/**
 * A stand-in container runtime (podman or docker) for the `--image` tests:
 * containers cannot start on the test machines. Put first on the agent's
 * PATH, it answers `info`, records every call's arguments, and for `run`
 * checks the arguments keg passes (mounts at the same path, the working
 * directory, `--env NAME`s, fd 3 for podman, the name), then runs the
 * command on the host the way a daemon would: in a session of its own,
 * not as a child of the client, with only the variables named by `--env`.
 * The client ignores SIGINT, SIGTERM and SIGHUP, so only `kill --signal SIG
 * NAME` through the runtime ends the container. Image `fail/image` fails to
 * start, as a missing image does: exit 125 and an error line.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { realPython } from "./run.ts";
import { tempDir, type TempDir } from "./tmp.ts";

export type FakeRuntime = {
  /** put this first on the agent's PATH */
  binDir: string;
  /** every call's arguments so far, in order */
  calls(): string[][];
  /** the host pid of container NAME's command, once started */
  pid(name: string): number | undefined;
  [Symbol.dispose](): void;
};

const SCRIPT = String.raw`
import json, os, signal, sys, time
STATE, KIND = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
with open(os.path.join(STATE, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\n")

def fail(message, code=125):
    print("Error: " + message, file=sys.stderr)
    sys.exit(code)

def wait_for(path, seconds):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            return None
        time.sleep(0.02)
    return open(path).read()

if args[:1] == ["info"]:
    sys.exit(0)
if args[:1] == ["kill"]:
    if len(args) != 4 or args[1] != "--signal":
        fail("kill takes --signal SIG NAME")
    pid = wait_for(os.path.join(STATE, args[3] + ".pid"), 5)
    if pid is None or os.path.exists(os.path.join(STATE, args[3] + ".exit")):
        fail("no container with name " + args[3] + " found")
    os.kill(int(pid), getattr(signal, args[2]))
    sys.exit(0)
if args[:1] != ["run"]:
    fail("the stand-in knows info, kill and run, not " + repr(args[:1]))

VALUED = {"--name", "--volume", "--workdir", "--env", "--device", "--user", "--preserve-fds"}
FLAGS = {"--rm", "--init"}
options = {}
rest = args[1:]
while rest and rest[0].startswith("-"):
    flag = rest.pop(0)
    if flag in FLAGS:
        options[flag] = True
    elif flag in VALUED and rest:
        options.setdefault(flag, []).append(rest.pop(0))
    else:
        fail("unknown option " + flag)
if len(rest) < 2:
    fail("run needs IMAGE COMMAND")
image, command = rest[0], rest[1:]
if image == "fail/image":
    fail("fail/image: image not known")
name = options.get("--name", [""])[0]
if not name.startswith("keg-") or "--rm" not in options or "--init" not in options:
    fail("expected --rm, --init and --name keg-ID")
mounts = {}
for volume in options.get("--volume", []):
    source, target = volume.split(":")[:2]
    if not os.path.exists(source):
        fail("mount source " + source + " missing")
    mounts[target] = source
workdir = options["--workdir"][0]
if mounts.get(workdir) != workdir:
    fail("the working directory must be mounted at its own path")
if KIND == "podman":
    if options.get("--preserve-fds") != ["1"]:
        fail("podman must be given --preserve-fds 1")
    os.fstat(3)
else:
    # The daemon's mounts, seen from the host: a target outside the same-path mounts maps to its source.
    for target, source in mounts.items():
        if target != source:
            command = [arg.replace(target, source) for arg in command]
env = {"PATH": os.environ["PATH"], "HOME": "/root"}
for key in options.get("--env", []):
    if key in os.environ:
        env[key] = os.environ[key]

pidfile = os.path.join(STATE, name + ".pid")
exitfile = os.path.join(STATE, name + ".exit")
if os.fork() == 0:
    os.setsid()
    child = os.fork()
    if child == 0:
        os.chdir(workdir)
        os.execvpe(command[0], command, env)
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(child))
    os.rename(pidfile + ".tmp", pidfile)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(exitfile + ".tmp", "w") as f:
        f.write(str(128 - code if code < 0 else code))
    os.rename(exitfile + ".tmp", exitfile)
    os._exit(0)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
code = wait_for(exitfile, 3600)
sys.exit(int(code))
`;

/** A stand-in runtime named `kind` in a temp folder. */
export function fakeRuntime(kind: "podman" | "docker"): FakeRuntime {
  const dir: TempDir = tempDir("keg-fake-runtime-");
  const binDir = dir.join("bin");
  const state = dir.join("state");
  mkdirSync(binDir);
  mkdirSync(state);
  writeFileSync(join(dir.path, "runtime.py"), SCRIPT);
  writeFileSync(join(binDir, kind), `#!/bin/sh\nexec ${realPython()} ${join(dir.path, "runtime.py")} ${state} ${kind} "$@"\n`, { mode: 0o755 });
  return {
    binDir,
    calls: () => {
      try {
        return readFileSync(join(state, "calls.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
      } catch {
        return [];
      }
    },
    pid: (name) => {
      try {
        return Number(readFileSync(join(state, `${name}.pid`), "utf8"));
      } catch {
        return undefined;
      }
    },
    [Symbol.dispose]: () => dir[Symbol.dispose](),
  };
}
