/** keg-agent entry: the only process.exit on the agent side. @module */
import { defineCommand, dispatch } from "./dispatch.ts";
import { exitCodeOf } from "./exit.ts";
import { VERSION, versionLine } from "./version.ts";

const root = defineCommand({
  meta: { name: "keg-agent", version: VERSION, description: "The keg service on a lab box" },
  subCommands: {
    serve: () => import("./agent/cli/serve.ts").then((m) => m.serveCommand),
    users: () => import("./agent/cli/users.ts").then((m) => m.usersCommand),
    "install-service": () => import("./agent/cli/install-service.ts").then((m) => m.installServiceCommand),
    "uninstall-service": () => import("./agent/cli/uninstall-service.ts").then((m) => m.uninstallServiceCommand),
    supervise: () => import("./agent/cli/supervise.ts").then((m) => m.superviseCommand),
  },
});

async function main(words: string[]): Promise<number> {
  if (words[0] === "--version" || words[0] === "-v") {
    console.log(versionLine("keg-agent"));
    return 0;
  }
  return exitCodeOf(() => dispatch(root, words));
}

process.exit(await main(process.argv.slice(2)));
