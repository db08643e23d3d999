/** `keg boxes list [--json]`: every box asked in parallel, offline within 3 s (docs/cli.md "boxes list"). @module */
import { KegError } from "../../errors.ts";
import { info, warn } from "../../log.ts";
import { readBoxes, type Box } from "../../config/boxes.ts";
import { getJson } from "../../client/http.ts";
import { colors, renderTable } from "../../client/table.ts";
import { defineCommand } from "../../dispatch.ts";
import { compareVersions, VERSION } from "../../version.ts";
import type { BoxStatus } from "../../wire/api.ts";
import { printJson, writeOut } from "../_output.ts";
import { jsonArgs } from "../_args.ts";

export type BoxRow = {
  name: string;
  address: string;
  user: string | null;
  version: string | null;
  status: "current" | "outdated" | "offline";
  /** when outdated: whether the agent is older or newer than this keg */
  outdated: "older" | "newer" | null;
  locked_by: string | null;
  lock_note: string | null;
  locked_since: string | null;
  busy: string | null;
};

/** Status and direction from the agent's version, against this keg's. */
function versionStatus(version: string): Pick<BoxRow, "status" | "outdated"> {
  if (version === VERSION) return { status: "current", outdated: null };
  return { status: "outdated", outdated: compareVersions(version, VERSION) < 0 ? "older" : "newer" };
}

export async function boxRow(box: Box): Promise<BoxRow> {
  const base = { name: box.name, address: box.address, user: box.user ?? null };
  try {
    const status = await getJson<BoxStatus>(box, "/v1/status", { timeoutMs: 3000 });
    const lock = status.user_lock;
    const busy = status.command_lock;
    return {
      ...base,
      user: status.user,
      version: status.version,
      ...versionStatus(status.version),
      locked_by: lock?.user ?? null,
      lock_note: lock?.note ?? null,
      locked_since: lock?.since ?? null,
      busy: busy ? `${busy.user} (${busy.command})` : null,
    };
  } catch (error) {
    const noLocks = { locked_by: null, lock_note: null, locked_since: null, busy: null };
    if (!(error instanceof KegError && error.code === "unauthorized")) return { ...base, version: null, status: "offline", outdated: null, ...noLocks };
    // It answers but refuses the token: not offline. Say so, and show what /health tells.
    warn(`Box '${box.name}' refused its token. Make a new one on the box with 'keg-agent users add NAME', then remove and add the box again.`);
    const health = await getJson<{ version: string }>(box, "/health", { timeoutMs: 3000 }).catch(() => undefined);
    if (!health) return { ...base, version: null, status: "offline", outdated: null, ...noLocks };
    return { ...base, version: health.version, ...versionStatus(health.version), ...noLocks };
  }
}

export function renderBoxes(rows: BoxRow[], color = colors()): string {
  const withLocks = rows.some((r) => r.locked_by || r.busy);
  const columns = [{ title: "Name" }, { title: "Address" }, { title: "User" }, { title: "Version" }, { title: "Status" }];
  if (withLocks) columns.push({ title: "Locked By", color: color.magenta } as never, { title: "Busy", color: color.yellow } as never);
  const cells = rows.map((r) => {
    const row = [r.name, r.address, r.user ?? "-", r.version ?? "-", r.status];
    if (withLocks) row.push(r.locked_by ? `${r.locked_by}${r.lock_note ? ` (${r.lock_note})` : ""}` : "", r.busy ?? "");
    return row;
  });
  return renderTable(columns, cells);
}

export const listCommand = defineCommand({
  meta: { name: "list", description: "Show every box with its status and locks" },
  args: { ...jsonArgs },
  async run({ args }) {
    const rows = await Promise.all(readBoxes().map(boxRow));
    if (args.json) return printJson(rows);
    if (!rows.length) {
      info("No boxes yet. Add one with 'keg boxes add --address URL --token TOKEN'.");
      return 0;
    }
    return writeOut(renderBoxes(rows));
  },
});
