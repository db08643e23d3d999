/**
 * The agent's restart in place after an update: the same process id and
 * address, by exec of the new executable, so a service manager sees no
 * restart and detached runs keep their supervisors (they only lose the pipe
 * they tell the old agent about output on; the new one watches their exit
 * record, docs/locks.md "Restart"). LMDB and the listener are closed first;
 * the listen address is passed with its real port, not `:0`.
 * @module
 */
import { execve, selfCommand, type Listener } from "../platform/index.ts";
import { logEvent, describeError } from "./log.ts";
import type { State } from "./state.ts";
import type { ServeArgs } from "./cli/serve.ts";
import { serveWords } from "./cli/serve-words.ts";

/** Requests in flight (the update's own answer above all) get this long to finish. */
const DRAIN_MS = 2000;

/** `words`: serve's flags for the new image, --listen with the real port among them. */
export type RestartPlan = { listener: Listener; state: State; words: string[] };

/** `--listen`'s value for the address this listener really has. */
export const listenAddress = (listener: Listener) => `${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}`;

/** After an update: serve's own flags again, with the real port and the state dir it resolved. */
export function restartAfterUpdate(listener: Listener, state: State, args: ServeArgs): Promise<number> {
  const words = serveWords({ ...args, listen: listenAddress(listener) });
  return restartInPlace({ listener, state, words });
}

/** Exec of the (new) executable; returns an exit code only when that fails. */
export async function restartInPlace(plan: RestartPlan): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([plan.listener.stop(false), new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
  clearTimeout(timer);
  await plan.listener.stop(true);
  await plan.state.close();
  const argv = [...selfCommand(), "serve", ...plan.words];
  logEvent("agent-restarting", { pid: process.pid, listen: listenAddress(plan.listener) });
  try {
    return execve(argv[0]!, argv, process.env);
  } catch (error) {
    logEvent("error", { during: "restart after update", cause: describeError(error) });
    return 1;
  }
}
