/** A tiny pure-Python wheel built here, since no package index is reachable from the tests. */
import { zipSync } from "fflate";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes `NAME-VERSION-py3-none-any.whl` into `dir`: a package `NAME` whose
 * `__init__.py` is `code`. Returns the file name.
 */
export function buildWheel(dir: string, name: string, code = `VALUE = "${name} works"\n`, version = "0.1"): string {
  const info = `${name}-${version}.dist-info`;
  const text = (s: string) => new TextEncoder().encode(s);
  const files: Record<string, string> = {
    [`${name}/__init__.py`]: code,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`,
    [`${info}/WHEEL`]: "Wheel-Version: 1.0\nGenerator: keg-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
  };
  files[`${info}/RECORD`] = [...Object.keys(files).map((path) => `${path},,`), `${info}/RECORD,,`, ""].join("\n");
  const file = `${name}-${version}-py3-none-any.whl`;
  writeFileSync(join(dir, file), zipSync(Object.fromEntries(Object.entries(files).map(([path, content]) => [path, text(content)]))));
  return file;
}
