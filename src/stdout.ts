/** stdout is a contract (run output, `--json`, tokens): written whole, before the process exits. @module */

/** Exit code when our stdout's reader went away (`keg … | head`), as SIGPIPE would give. */
export const EXIT_STDOUT_CLOSED = 141;

/**
 * Writes `text` to stdout; resolves to exit code 0 once the pipe has taken
 * all of it (an exit right after a write drops the rest), or 141 when the
 * reader closed the pipe.
 */
export function writeOut(text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => (error.code === "EPIPE" ? resolve(EXIT_STDOUT_CLOSED) : reject(error));
    process.stdout.once("error", onError);
    process.stdout.write(text, (error) => {
      process.stdout.off("error", onError);
      if (error) onError(error as NodeJS.ErrnoException);
      else resolve(0);
    });
  });
}
