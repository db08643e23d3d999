/** Wait for a condition with a wall-clock deadline, never for time to pass. */
export async function until<T>(check: () => T | Promise<T>, options: { deadlineMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  let delay = 5;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "a condition"}`);
    await Bun.sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
