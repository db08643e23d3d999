/** The version of keg and keg-agent and the commit they were built from, injected by build/compile.ts. @module */
declare const KEG_VERSION: string | undefined;
declare const KEG_COMMIT: string | undefined;

export const VERSION: string = typeof KEG_VERSION === "string" ? KEG_VERSION : "0.0.0-dev";
export const COMMIT: string = typeof KEG_COMMIT === "string" ? KEG_COMMIT : "unknown";

/** The `--version` line of a binary: `keg 0.1.0 (commit 8e88808c1a2b)`. */
export const versionLine = (program: "keg" | "keg-agent") => `${program} ${VERSION} (commit ${COMMIT})`;

/** The version in a `keg-agent --version` line, or undefined when the line is not one. */
export function agentVersionIn(output: string): string | undefined {
  return /^keg-agent (\d+\.\d+\.\d+[\w.+-]*)(?: \(commit [\w.-]+\))?\n?$/.exec(output)?.[1];
}

/** Orders two versions as semver does (a pre-release sorts before its release); negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const split = (version: string) => {
    const [core = "", pre] = version.split("+")[0]!.split(/-(.*)/s);
    return { core: core.split(".").map(Number), pre: pre === undefined ? undefined : pre.split(".") };
  };
  const x = split(a);
  const y = split(b);
  for (let at = 0; at < 3; at++) if ((x.core[at] || 0) !== (y.core[at] || 0)) return (x.core[at] || 0) - (y.core[at] || 0);
  if (x.pre === undefined || y.pre === undefined) return x.pre === y.pre ? 0 : x.pre === undefined ? 1 : -1;
  for (let at = 0; at < Math.max(x.pre.length, y.pre.length); at++) {
    const [p, q] = [x.pre[at], y.pre[at]];
    if (p === undefined || q === undefined) return p === undefined ? -1 : 1;
    if (p === q) continue;
    const [m, n] = [/^\d+$/.test(p) ? Number(p) : NaN, /^\d+$/.test(q) ? Number(q) : NaN];
    if (!Number.isNaN(m) && !Number.isNaN(n)) return m - n;
    if (!Number.isNaN(m) || !Number.isNaN(n)) return Number.isNaN(m) ? 1 : -1;
    return p < q ? -1 : 1;
  }
  return 0;
}
