/**
 * The local files of `keg pip` (docs/cli.md "keg pip"): pip arguments that
 * name existing local files or directories (a wheel, an sdist, a project
 * directory, `-r`/`-c` files, a `-f` folder) are uploaded and rewritten to
 * the uploaded copies, as paths relative to the run folder, which is pip's
 * working directory on the box. Requirements and constraints files are read
 * for the local paths they name in turn (nested `-r`/`-c` included) and
 * uploaded rewritten. Every other word reaches pip untouched.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { KegError } from "../errors.ts";

/** One upload: a file or directory from disk, or a rewritten requirements file. */
export type PipUpload = { zipPath: string; source: string; text?: string };

export type PipFiles = { args: string[]; uploads: PipUpload[] };

/** The folder of the upload holding pip's files: one numbered folder each, so names never clash and keep their base name (pip reads wheel names). */
export const PIP_UPLOAD_DIR = "pip-files";

type FileOption = "requirements" | "links" | "editable";

const FILE_OPTIONS: Record<string, FileOption> = {
  "-r": "requirements",
  "--requirement": "requirements",
  "-c": "requirements",
  "--constraint": "requirements",
  "-f": "links",
  "--find-links": "links",
  "-e": "editable",
  "--editable": "editable",
};

/** pip options that take a value naming something on the box or no path at all: their value is never uploaded. */
const VALUE_OPTIONS = new Set([
  "-t", "--target", "--prefix", "--root", "--src", "-d", "--dest", "-w", "--wheel-dir", "--report", "--log", "--log-file",
  "--cache-dir", "--python", "-i", "--index-url", "--extra-index-url", "--trusted-host", "--proxy", "--cert", "--client-cert",
  "--retries", "--timeout", "--exists-action", "--platform", "--python-version", "--implementation", "--abi",
  "--upgrade-strategy", "--no-binary", "--only-binary", "-C", "--config-settings", "--global-option", "--build-option",
  "--progress-bar", "--keyring-provider", "--root-user-action", "--use-feature", "--use-deprecated", "--format", "--exclude",
  "--path", "--hash", "--algorithm", "-a",
]);

const ARCHIVE = /\.(whl|zip|tar|tar\.gz|tgz|tar\.bz2|tbz|tar\.xz|txz)$/i;

/** Like pip: a word is a path when it has a separator, starts with '.' or is an archive's name (and is no URL). */
const looksLikePath = (word: string) => !word.includes("://") && (word.includes("/") || word.startsWith(".") || ARCHIVE.test(word));

const statOf = (file: string) => fs.statSync(file, { throwIfNoEntry: false });

/**
 * @example
 * pipFiles(["install", "--no-index", "./dist/x-0.1-py3-none-any.whl"], process.cwd())
 * // { args: ["install", "--no-index", "pip-files/1/x-0.1-py3-none-any.whl"], uploads: [{ zipPath: "pip-files/1/x-0.1-py3-none-any.whl", source: "/…/dist/x-0.1-py3-none-any.whl" }] }
 */
export function pipFiles(words: string[], cwd: string): PipFiles {
  const files = new PipFileSet(cwd);
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      args.push(...words.slice(i));
      break;
    }
    const option = splitOption(word);
    const kind = option && FILE_OPTIONS[option.flag];
    if (option && kind) {
      const value = option.value ?? words[i + 1];
      if (value === undefined) {
        args.push(word); // pip says what is missing
        continue;
      }
      if (option.value === undefined) i++;
      const local = files.option(kind, value, cwd, option.flag);
      args.push(...(option.value === undefined ? [word, local] : [`${option.flag}${option.joiner}${local}`]));
    } else if (option) {
      args.push(word);
      if (option.value === undefined && VALUE_OPTIONS.has(option.flag) && i + 1 < words.length) args.push(words[++i]!);
    } else args.push(files.requirement(word) ?? word);
  }
  return { args, uploads: files.uploads };
}

/** `--flag`, `--flag=value`, `-x`, `-xvalue`; undefined for a word that is not an option. */
function splitOption(word: string): { flag: string; value?: string; joiner: string } | undefined {
  if (!word.startsWith("-") || word === "-") return undefined;
  if (word.startsWith("--")) {
    const eq = word.indexOf("=");
    return eq < 0 ? { flag: word, joiner: "=" } : { flag: word.slice(0, eq), value: word.slice(eq + 1), joiner: "=" };
  }
  return word.length > 2 ? { flag: word.slice(0, 2), value: word.slice(2), joiner: "" } : { flag: word, joiner: "" };
}

/** What pip installs from a local path: wheels and sdists. */
const PACKAGE_FILE = /\.(whl|tar\.gz|tgz|tar\.bz2|tbz|tar\.xz|txz|zip)$/i;
/** A requirements or constraints file named inside another one. */
const REQUIREMENTS_NAME = /\.(txt|in)$/i;
const PROJECT_FILES = ["pyproject.toml", "setup.py", "setup.cfg"];

function isLocalPackage(file: string): boolean {
  const stat = statOf(file);
  if (stat?.isFile()) return PACKAGE_FILE.test(file);
  return Boolean(stat?.isDirectory()) && PROJECT_FILES.some((name) => fs.existsSync(path.join(file, name)));
}

/** The uploads so far, one per local file or directory (by its real path). */
class PipFileSet {
  readonly uploads: PipUpload[] = [];
  private readonly byRealPath = new Map<string, string>();

  constructor(private readonly cwd: string) {}

  /** The value of `-r`/`-c`/`-f`/`-e` (relative to `base`), rewritten when it is local. */
  option(kind: FileOption, value: string, base: string, shown: string, nested = false): string {
    const file = path.resolve(base, value);
    const stat = value.includes("://") ? undefined : statOf(file);
    if (!stat) return value;
    if (kind === "editable")
      throw new KegError(
        "failed",
        `'${shown} ${value}' would install the box's uploaded copy in place, which is deleted with its run folder. Install it without -e.`,
      );
    // Named inside a requirements file, only what is named like one is read (docs/usage.md "Box Python").
    if (kind === "requirements" && stat.isFile() && (!nested || REQUIREMENTS_NAME.test(file)))
      return this.add(file, (zipPath) => this.rewriteRequirements(file, zipPath));
    if (kind === "links") return this.add(file);
    return value;
  }

  /**
   * A requirement (a word or a requirements line's first token), rewritten
   * when it names a local package: a wheel or sdist archive, or a project
   * folder. Anything else stays as it is, never uploaded: a hostile
   * requirements file must not ship `/etc/shadow` or `~/.ssh` to the box.
   */
  requirement(word: string): string | undefined {
    if (!looksLikePath(word)) return undefined;
    const file = path.resolve(this.cwd, word);
    return isLocalPackage(file) ? this.add(file) : undefined;
  }

  /** Uploads `file` once (a requirements file with its rewritten text); returns its path in the upload. */
  private add(file: string, rewrite?: (zipPath: string) => string): string {
    const real = fs.realpathSync(file);
    const known = this.byRealPath.get(real);
    if (known) return known;
    const zipPath = `${PIP_UPLOAD_DIR}/${this.uploads.length + 1}/${path.basename(real)}`;
    this.byRealPath.set(real, zipPath);
    const upload: PipUpload = { zipPath, source: real };
    this.uploads.push(upload);
    // Set after the upload is known, so a file that names itself ends instead of looping.
    if (rewrite) upload.text = rewrite(zipPath);
    return zipPath;
  }

  /**
   * A requirements or constraints file with its local paths rewritten. As pip
   * reads them: nested `-r`/`-c` relative to the file, `-f` relative to the
   * file when it is there, requirements relative to the working directory.
   */
  private rewriteRequirements(file: string, zipPath: string): string {
    const dir = path.dirname(file);
    const here = path.posix.dirname(zipPath);
    const fromFile = (target: string) => path.posix.relative(here, target);
    const lines = readText(file).replace(/\\\r?\n/g, "").split(/\r?\n/);
    return lines
      .map((line) => {
        const content = line.replace(/(^|\s)#.*$/, "").trim();
        if (!content) return line;
        const [first = "", ...more] = content.split(/\s+/);
        const option = splitOption(first);
        const kind = option && FILE_OPTIONS[option.flag];
        if (option && kind) {
          const value = option.value ?? more.shift();
          if (value === undefined) return line;
          const base = kind === "links" && !statOf(path.resolve(dir, value)) ? this.cwd : dir;
          const local = this.option(kind, value, base, option.flag, true);
          // pip looks for a nested file next to this one first: the copies sit side by side in the upload.
          return local === value ? line : [option.flag, fromFile(local), ...more].join(" ");
        }
        if (option) return line;
        const local = this.requirement(first);
        return local ? [local, ...more].join(" ") : line;
      })
      .join("\n");
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new KegError("failed", `Cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Check its permissions.`);
  }
}
