/** keg entry: maps every error to SPEC §4's exit codes; the only process.exit on the CLI side. @module */
import { takeFlag } from "./args.ts";
import { commandTree } from "./cmd/index.ts";
import { dispatch } from "./dispatch.ts";
import { KegError } from "./errors.ts";
import { printError } from "./log.ts";
import { VERSION } from "./version.ts";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--version" || argv[0] === "-v") {
    console.log(`keg ${VERSION}`);
    return 0;
  }
  // SPEC §4: --force-command may stand anywhere on the command line.
  const { found: force, words } = takeFlag(argv, "--force-command");
  try {
    return await dispatch(commandTree, words, force);
  } catch (error) {
    if (error instanceof KegError) {
      printError(error.message);
      return error.exitCode;
    }
    printError(error instanceof Error ? (process.env.KEG_DEBUG ? String(error.stack) : error.message) : String(error));
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
