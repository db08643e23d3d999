/**
 * `serve --warm-python [--preload MODULE,...]` (docs/usage.md "Warm
 * interpreter"): one started interpreter of the box's venv, the preload
 * modules imported, that forks a process per python run. This module keeps
 * it: started once the venv is there, as the run user, started again after
 * `keg pip` (the venv changed) and when it ends, and it decides which runs it
 * may serve. The forkserver itself is src/agent/python/keg_warm.py; a run's
 * side of it is src/agent/warm-start.ts.
 * @module
 */
import { closeSync, mkdirSync, rmSync } from "node:fs";
import { writeFileAtomically } from "../files/atomic-write.ts";
import { join } from "node:path";
import { listenUnixDescriptor, spawnHelper, type Helper } from "../platform/index.ts";
import forkserverSource from "./python/keg_warm.py" with { type: "text" };
import { logEvent } from "./log.ts";
import type { PythonEnv } from "./python-env.ts";
import { asRunUser, type RunUser } from "./run-user.ts";
import { baseEnv } from "./script-env.ts";
import type { WarmOrders, WarmServer } from "./warm-start.ts";

/** A run that arrives while the interpreter starts waits this long for it, then starts cold. */
const READY_WAIT_MS = 10_000;
/** Started again this long after it ended by itself; given up after this many ends in a row without serving. */
const RESTART_DELAY_MS = 1000;
const MAX_FAILED_STARTS = 3;

/** Variables Python reads while it starts: a run that sets them differently needs a fresh interpreter. */
const STARTUP_VARIABLE = /^(PYTHON\w*|LANG|LANGUAGE|LC_\w+)$/;

/** The first start-up variable `run` has otherwise than `warm`, said as a reason; undefined when they agree. */
export function startupDifference(warm: Record<string, string>, run: Record<string, string>): string | undefined {
  const names = [...new Set([...Object.keys(warm), ...Object.keys(run)])].filter((name) => STARTUP_VARIABLE.test(name)).sort();
  const name = names.find((name) => warm[name] !== run[name]);
  return name && `the run sets ${name} otherwise than the warm interpreter`;
}

/** A module path for --preload: dotted Python identifiers. */
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
export const MAX_PRELOADS = 64;

/** `--preload a,b.c` as names; a one-line problem for anything else. */
export function parsePreload(value: string | undefined): string[] | string {
  if (value === undefined) return [];
  const names = value.split(",").map((name) => name.trim());
  const bad = names.find((name) => !MODULE_NAME.test(name) || name.length > 200);
  if (bad !== undefined) return `--preload takes module names separated by commas (like numpy,serial.tools), not '${bad}'.`;
  if (names.length > MAX_PRELOADS) return `--preload takes at most ${MAX_PRELOADS} modules, not ${names.length}.`;
  return names;
}

type Server = { helper: Helper; socket: string; ready: Promise<boolean>; served: boolean };

export class WarmPython {
  private current?: Server;
  private starting?: Server;
  private failedStarts = 0;
  private generation = 0;
  private readonly dir: string;
  /** the forkserver's code, beside the keg module (the agent's: the run user owns nothing there) */
  private readonly file: string;
  /** the environment the interpreter starts with: a run's base, no run's own variables */
  private readonly env: Record<string, string>;
  /** told when the interpreter that serves changes (undefined: none serves) */
  onServer?: (server: WarmServer | undefined) => void;

  constructor(
    stateDir: string,
    private readonly python: PythonEnv,
    private readonly user: RunUser,
    private readonly preload: string[],
  ) {
    this.dir = join(stateDir, "warm");
    this.env = { ...baseEnv(user, "/tmp"), PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", PYTHONPATH: python.libDir };
    this.file = join(python.libDir, "keg_warm.py");
    writeFileAtomically(this.file, forkserverSource, { sync: false, mode: 0o644 });
    // The agent's own folder, made anew (an older keg gave it to the run user): the run user can
    // neither reach the socket nor put a link in its place.
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { mode: 0o700 });
    void python.runner.then(
      (runner) => {
        if (runner.venv) this.start(runner.python);
        else this.off("this box has no venv");
      },
      () => this.off("this box has no Python"),
    );
  }

  /** Why there is no warm interpreter at all, once known. */
  private disabled?: string;

  private off(why: string): void {
    this.disabled = why;
    logEvent("warning", { message: `no warm interpreter: ${why}; python runs start cold` });
  }

  private start(python: string): void {
    const socket = join(this.dir, `${process.pid}.${++this.generation}.sock`);
    let listening: number;
    try {
      listening = listenUnixDescriptor(socket);
    } catch (error) {
      this.off((error as Error).message);
      return;
    }
    let helper: Helper;
    try {
      helper = spawnHelper(asRunUser(this.user, [python, this.file, this.preload.join(",")]), { env: this.env, cwd: "/", fd3: listening });
    } finally {
      closeSync(listening);
    }
    helper.tell("", { keepOpen: true });
    const server: Server = { helper, socket, ready: undefined as never, served: false };
    server.ready = this.follow(server);
    this.starting = server;
    void server.ready.then((ok) => {
      if (this.starting !== server) return;
      this.starting = undefined;
      if (!ok) return;
      const old = this.current;
      this.current = server;
      old?.helper.tell("");
      this.onServer?.({ socket: server.socket, uid: this.user.uid });
    });
    void helper.exited.then((code) => {
      rmSync(socket, { force: true });
      if (this.current === server) {
        this.current = undefined;
        this.onServer?.(undefined);
      }
      if (this.starting === server) this.starting = undefined;
      if (this.current || this.starting) return;
      this.failedStarts = server.served ? 0 : this.failedStarts + 1;
      logEvent("warm-python-ended", { pid: helper.pid, code });
      if (this.failedStarts >= MAX_FAILED_STARTS) {
        this.off(`the warm interpreter ended ${MAX_FAILED_STARTS} times without serving a run; until keg-agent restarts`);
        return;
      }
      setTimeout(() => this.start(python), RESTART_DELAY_MS).unref();
    });
  }

  /** Reads the forkserver's lines: preloads, then `ready PID`. Resolves to whether it became ready. */
  private async follow(server: Server): Promise<boolean> {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of server.helper.stdout) {
      text += decoder.decode(chunk, { stream: true });
      for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n")) {
        const [word, name, ...why] = text.slice(0, newline).split(" ");
        text = text.slice(newline + 1);
        if (word === "preload-failed") logEvent("warning", { message: `--preload ${name}: cannot import it (${why.join(" ").slice(0, 300)}); runs import it themselves` });
        else if (word === "ready") {
          logEvent("warm-python-ready", { pid: server.helper.pid, preloaded: this.preload.join(",") || undefined });
          return true;
        }
      }
      if (text.length > 64 * 1024) text = "";
    }
    return false;
  }

  /** After `keg pip`: a new interpreter sees the venv as it now is; runs go to the old one until it is ready. */
  restart(): void {
    const known = this.python.known();
    if (!known?.venv) return;
    this.failedStarts = 0;
    this.start(known.python);
  }

  /**
   * What a python run's plan carries for the warm interpreter, or why it
   * starts cold. Waits for an interpreter that is starting (up to 10 s).
   */
  async ordersFor(argv: string[], env: Record<string, string>): Promise<WarmOrders | string> {
    const different = startupDifference(this.env, env);
    if (different) return different;
    const waiting = this.starting && !this.current ? this.starting : undefined;
    if (waiting) await Promise.race([waiting.ready, new Promise((resolve) => setTimeout(resolve, READY_WAIT_MS))]);
    const server = this.current;
    if (!server) return this.disabled ?? "the warm interpreter is not running";
    server.served = true;
    return { socket: server.socket, uid: this.user.uid, argv };
  }
}
