/** keg entry: maps every error to its exit code (docs/cli.md "Exit codes"); the only process.exit on the CLI side. @module */
import { versionLine } from "./version.ts";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--version" || argv[0] === "-v") {
    console.log(versionLine("keg"));
    return 0;
  }
  // Loaded after the --version check: `keg --version` sets up nothing else (docs/performance.md "Start-up").
  const [{ takeFlag }, { commandTree }, { dispatch }, { exitCodeOf }] = await Promise.all([
    import("./args.ts"),
    import("./cmd/index.ts"),
    import("./dispatch.ts"),
    import("./exit.ts"),
  ]);
  // --force-command may stand anywhere on the command line (docs/cli.md "Global flags").
  const { found: force, words: rest } = takeFlag(argv, "--force-command");
  // --debug (anywhere, like --force-command) shows stacks of unexpected errors.
  const { found: debug, words } = takeFlag(rest, "--debug");
  if (debug) process.env.KEG_DEBUG = "1";
  return exitCodeOf(() => dispatch(commandTree, words, force));
}

process.exit(await main(process.argv.slice(2)));
