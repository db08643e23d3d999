/** stdout is a contract (run output, `--json`, tokens): written whole, before the process exits. @module */

/** Writes `text` to stdout and resolves (to exit code 0) once the pipe has taken it: an exit right after a write drops the rest. */
export function writeOut(text: string): Promise<number> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve(0))));
}
