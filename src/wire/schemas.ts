/**
 * The shapes of every request keg-agent reads (docs/api.md "Endpoints"), as
 * valibot schemas: the agent validates with them at the route, and the
 * request types of src/wire/api.ts are inferred from them. Each message is
 * the phrase that completes "<field> must be …" in a 400 (docs/api.md
 * "Errors"). The CLI imports this module's types only, never its values, so it
 * does not load valibot at start.
 * @module
 */
import * as v from "valibot";
import { MAX_LIST_ITEMS, MAX_NOTE_CHARS } from "./limits.ts";
import { ENV_NAME, KILL_SIGNALS, relativePathProblem, RUN_ID } from "./names.ts";

export { MAX_JSON_BODY_BYTES, MAX_NOTE_CHARS } from "./limits.ts";

const MAX_NAME_CHARS = 256;
const MAX_PATH_CHARS = 4096;
/** Linux's limit on one argument or environment string (MAX_ARG_STRLEN). */
const MAX_ARG_CHARS = 128 * 1024;
const MAX_HISTORY = 1000;

const text = (max: number) => v.message(v.pipe(v.string(), v.maxLength(max)), `a string of at most ${max.toLocaleString("en-US")} characters`);
const seconds = v.message(v.pipe(v.number(), v.finite(), v.minValue(0)), "a number of seconds ≥ 0");
const flag = v.message(v.boolean(), "true or false");
const list = <T extends v.GenericSchema>(item: T, max: number) => v.pipe(v.array(item, "a list"), v.maxLength(max, `a list of at most ${max.toLocaleString("en-US")} items`));
const isNotList = (value: unknown) => !Array.isArray(value);
/** A JSON object of exactly these fields (valibot's object schemas alone would take a list: a list is an object). */
const jsonObject = <E extends v.ObjectEntries>(entries: E) =>
  v.pipe(v.unknown(), v.check(isNotList, "a JSON object"), v.strictObject(entries, "a JSON object"));
const positiveInteger = v.message(v.pipe(v.number(), v.safeInteger(), v.minValue(1)), "a positive integer");

/** POST /v1/lock */
export const LockRequestSchema = jsonObject({
  box: v.optional(text(MAX_NAME_CHARS)),
  note: v.optional(text(MAX_NOTE_CHARS)),
  /** seconds to wait in line; 0 = no limit */
  wait: v.optional(seconds),
});

/** POST /v1/unlock */
export const UnlockRequestSchema = jsonObject({ box: v.optional(text(MAX_NAME_CHARS)), force: v.optional(flag) });

/** POST /v1/runs/:id/heartbeat: the generation of the run's grant (docs/locks.md "Fencing"). */
export const HeartbeatRequestSchema = jsonObject({ generation: positiveInteger });

/** POST /v1/runs/:id/kill */
export const KillRequestSchema = jsonObject({ signal: v.optional(v.picklist(KILL_SIGNALS, `one of ${KILL_SIGNALS.join(", ")}`)) });

/** POST /v1/runs/:id/stop and /v1/runs/kill-all take no fields. */
export const EmptyRequestSchema = jsonObject({});

/** GET /v1/history?limit= */
export const HistoryQuerySchema = v.object({
  limit: v.optional(
    v.message(v.pipe(v.string(), v.regex(/^\d{1,4}$/), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(MAX_HISTORY)), `an integer from 1 to ${MAX_HISTORY}`),
    "50",
  ),
});

/** A byte offset in a run's output (docs/api.md "Resuming"). */
const byteOffset = v.message(v.pipe(v.number(), v.safeInteger(), v.minValue(0)), "a byte offset (an integer ≥ 0)");

/** GET /v1/runs/:id/output?from= */
export const OutputQuerySchema = v.object({
  from: v.optional(
    v.message(v.pipe(v.string(), v.regex(/^\d{1,15}$/), v.transform(Number)), "a byte offset (an integer ≥ 0)"),
    "0",
  ),
});

/** POST /v1/runs/:id/resume: the attached cycle of this grant, from this output offset. */
export const ResumeRequestSchema = jsonObject({ generation: positiveInteger, from: byteOffset });

/** POST /v1/update?sha256=…: the body is the new keg-agent binary (docs/api.md "Updating"). */
export const UpdateQuerySchema = v.object({
  sha256: v.message(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)), "the binary's SHA-256 as 64 lowercase hex digits"),
  box: v.optional(text(MAX_NAME_CHARS)),
  force: v.optional(v.pipe(v.picklist(["true", "false"], "true or false"), v.transform((value) => value === "true"))),
});

/** The :id of /v1/runs/:id/…, as crypto.randomUUID() makes it. */
export const RunIdParamSchema = v.object({
  id: v.message(v.pipe(v.string(), v.regex(RUN_ID)), "a run id (a lowercase UUID v4, as 'keg python ps' shows)"),
});

/** The spec of a run, sent ahead of the upload in POST /v1/runs (docs/api.md "The run body"). */
export const RunSpecSchema = v.pipe(
  jsonObject({
    command: v.picklist(["python", "exec", "pip"], "'python', 'exec' or 'pip'"),
    /** python: the script's path inside the upload */
    entry: v.optional(
      v.pipe(
        text(MAX_PATH_CHARS),
        v.check((path) => relativePathProblem(path) === undefined, "a path inside the upload (relative, without '..')"),
      ),
    ),
    /** python: the script's arguments; exec: the program and its arguments; pip: pip's arguments */
    args: list(text(MAX_ARG_CHARS), MAX_LIST_ITEMS),
    /** python and exec: run in a container from this image (docs/usage.md "Containers") */
    image: v.optional(v.message(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_NAME_CHARS), v.regex(/^[^\s-][^\s]*$/)), "an image name (no spaces, not starting with '-')")),
    env: v.pipe(
      v.unknown(),
      v.check(isNotList, "an object of NAME: value strings"),
      v.record(
        v.message(v.pipe(v.string(), v.regex(ENV_NAME), v.maxLength(MAX_NAME_CHARS)), "a variable name (letters, digits and '_', not starting with a digit)"),
        text(MAX_ARG_CHARS),
        "an object of NAME: value strings",
      ),
      v.maxEntries(MAX_LIST_ITEMS, `an object of at most ${MAX_LIST_ITEMS.toLocaleString("en-US")} variables`),
    ),
    /** seconds; 0 = no limit */
    timeout: seconds,
    /** the box name the CLI was given (KEG_BOX, and the name in messages) */
    box: text(MAX_NAME_CHARS),
    downloads: list(text(MAX_PATH_CHARS), MAX_LIST_ITEMS),
    detach: flag,
    force: flag,
    /** python: a fresh interpreter even when the box keeps a warm one */
    cold: v.optional(flag),
    /** seconds to queue for the box; undefined = fail at once, 0 = no limit */
    wait: v.optional(seconds),
  }),
  v.forward(
    v.check((spec) => spec.command !== "python" || spec.entry !== undefined, "given for a python run (the script's path in the upload)"),
    ["entry"],
  ),
  v.forward(v.check((spec) => spec.command !== "exec" || spec.args.length > 0, "a list that names the program for an exec run"), ["args"]),
  v.forward(v.check((spec) => spec.command !== "pip" || spec.image === undefined, "left out for pip (it installs into the box's venv)"), ["image"]),
);

export type LockRequest = v.InferOutput<typeof LockRequestSchema>;
export type UnlockRequest = v.InferOutput<typeof UnlockRequestSchema>;
export type HeartbeatRequest = v.InferOutput<typeof HeartbeatRequestSchema>;
export type KillRequest = v.InferOutput<typeof KillRequestSchema>;
export type HistoryQuery = v.InferOutput<typeof HistoryQuerySchema>;
export type RunSpec = v.InferOutput<typeof RunSpecSchema>;
export type OutputQuery = v.InferOutput<typeof OutputQuerySchema>;
export type ResumeRequest = v.InferOutput<typeof ResumeRequestSchema>;
export type UpdateQuery = v.InferInput<typeof UpdateQuerySchema>;
