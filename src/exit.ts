/** The one place both entries turn an error into its line and exit code (docs/cli.md). @module */
import { KegError } from "./errors.ts";
import { printError } from "./log.ts";

export async function exitCodeOf(main: () => Promise<number>): Promise<number> {
  try {
    return await main();
  } catch (error) {
    if (error instanceof KegError) {
      printError(error.message);
      return error.exitCode;
    }
    // Unexpected: one line, the stack only with KEG_DEBUG.
    printError(error instanceof Error ? (process.env.KEG_DEBUG ? String(error.stack) : error.message) : String(error));
    return 1;
  }
}
