/**
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP (a cancelled CI job, a closed terminal)
 * to keg while it follows a run: all handled the same way by the caller.
 * @module
 */
import { INTERRUPT_CODES, type Interrupt } from "./exit-code.ts";

const SIGNALS = Object.keys(INTERRUPT_CODES) as Interrupt[];

/** Calls `handler` with each of those signals keg receives; returns the function that stops listening. */
export function onInterrupt(handler: (signal: Interrupt) => void): () => void {
  const listeners = SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) process.on(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
