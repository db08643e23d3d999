/** Byte buffers shared by the CLI and the agent. @module */

/** The first `size` bytes of `parts` (all of them by default) in one new buffer. */
export function joinBytes(parts: Uint8Array[], size = parts.reduce((sum, part) => sum + part.length, 0)): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    if (at >= size) break;
    const piece = part.subarray(0, size - at);
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
