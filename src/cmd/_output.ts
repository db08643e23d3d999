/** `--json` output of the commands that have it (docs/cli.md "Output"). @module */
import { writeOut } from "../stdout.ts";

export { writeOut };

/** The exact values, indented; resolves to exit code 0 once written. */
export const printJson = (value: unknown): Promise<number> => writeOut(`${JSON.stringify(value, null, 2)}\n`);
