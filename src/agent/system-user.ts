/** The system user scripts run as (`install-service --run-as`): created when missing, in the device groups the box has. @module */
import { spawnSync } from "node:child_process";
import { KegError } from "../errors.ts";

/** Serial ports and USB devices: the groups that reach instruments, where the box has them. */
export const DEVICE_GROUPS = ["dialout", "plugdev"];

const exists = (database: "passwd" | "group", name: string) => spawnSync("getent", [database, name], { stdio: "ignore" }).status === 0;

/** Creates `name` as a system user unless it exists; true when it was created. */
export function ensureSystemUser(name: string): { created: boolean; groups: string[] } {
  if (exists("passwd", name)) return { created: false, groups: [] };
  const groups = DEVICE_GROUPS.filter((group) => exists("group", group));
  const args = ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", ...(groups.length ? ["--groups", groups.join(",")] : []), name];
  const result = spawnSync("useradd", args, { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? (result.stderr.trim() || `exit ${result.status}`);
    throw new KegError("failed", `Could not create user '${name}' (useradd: ${why}). Create it yourself, or give --run-as an existing user.`);
  }
  return { created: true, groups };
}
