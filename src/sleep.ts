/** A timer as a promise (the same under Bun and Deno). @module */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
