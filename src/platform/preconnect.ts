/**
 * Opens the connection to `url` ahead of the request that will use it, while
 * keg still packs the upload: Bun's `fetch.preconnect` (its HTTP thread
 * starts and the TCP handshake runs meanwhile; ~3 ms off a warm run here:
 * docs/performance.md "Into a pipe, an early connection, and a new
 * machine"). Where the runtime has none (Deno), nothing is done. It never
 * fails: the request itself reports an unreachable box.
 * @module
 */
export function preconnect(url: string): void {
  try {
    (fetch as unknown as { preconnect?: (url: string) => void }).preconnect?.(url);
  } catch {}
}
