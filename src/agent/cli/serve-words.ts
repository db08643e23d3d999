/** `serve`'s flags back as words: for the unit install-service writes and for the agent's exec after an update. @module */
import { serveArgs, type ServeArgs } from "./serve.ts";

/** The serve flags that were given, as words, in their declared order. */
export function serveWords(args: ServeArgs): string[] {
  return Object.keys(serveArgs).flatMap((name) => {
    const value = args[name as keyof ServeArgs];
    if (typeof value === "boolean") return value ? [`--${name}`] : [];
    return [value ?? []].flat().flatMap((one) => [`--${name}`, one]);
  });
}
