/**
 * Requests checked at the route by the schemas of src/wire/schemas.ts, with
 * Hono's validator. Anything malformed is a 400 naming the field and what it
 * must be, before any handler runs (docs/api.md "Errors").
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { every } from "hono/combine";
import { validator } from "hono/validator";
import * as v from "valibot";
import { KegError } from "../../errors.ts";
import { MAX_JSON_BODY_BYTES } from "../../wire/schemas.ts";

type Schema = v.GenericSchema;

const KIB = 1024;

/** What a part of a request is called in a 400. */
const partNames = { json: "request body", query: "query", param: "path" } as const;

/** The entries of an object schema, also when it sits in a pipe. */
function entriesOf(schema: Schema): Record<string, Schema> | undefined {
  const { entries, pipe } = schema as { entries?: Record<string, Schema>; pipe?: Schema[] };
  return entries ?? pipe?.map(entriesOf).find(Boolean);
}

/** "must be …" for a field that is missing: the first issue its own schema reports for nothing. */
function ruleOf(schema: Schema): string {
  const result = v.safeParse(schema, undefined);
  return result.success ? "given" : result.issues[0].message;
}

const MAX_FIELD_SHOWN = 60;

/** The one line of a 400 for the first problem valibot found. */
export function describeProblem(schema: Schema, issue: v.BaseIssue<unknown>, part: string): string {
  const path = v.getDotPath(issue);
  if (!path) return `Bad ${part}: it must be ${issue.message}.`;
  // A field name comes from the caller: never echo a huge one.
  const field = path.length > MAX_FIELD_SHOWN ? `${path.slice(0, MAX_FIELD_SHOWN - 1)}…` : path;
  const isObjectIssue = issue.type === "object" || issue.type === "strict_object";
  if (isObjectIssue && issue.expected === "never") return `Bad ${part}: '${field}' is not a field it takes.`;
  if (isObjectIssue && issue.input === undefined) {
    const entry = entriesOf(schema)?.[path];
    return `Bad ${part}: ${field} is missing; it must be ${entry ? ruleOf(entry) : "given"}.`;
  }
  return `Bad ${part}: ${field} must be ${issue.message}.`;
}

/** `value` as the schema's output, or the 400 that says what is wrong with it. */
export function parseRequest<S extends Schema>(schema: S, value: unknown, part: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (!result.success) throw new KegError("bad_request", describeProblem(schema, result.issues[0], part));
  return result.output;
}

/** Checks one part of the request; the handler reads it with `c.req.valid(part)`. */
export function valid<Part extends keyof typeof partNames, S extends Schema>(part: Part, schema: S) {
  return validator(part, (value): v.InferOutput<S> => parseRequest(schema, value, partNames[part]));
}

const tooLarge = () => {
  throw new KegError("too_large", `Request body is over the limit of ${MAX_JSON_BODY_BYTES / KIB} KiB for JSON requests. Send less.`);
};

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/** JSON or nothing: an empty body is `{}`; any other body must be JSON and say so. */
const jsonOrEmpty: MiddlewareHandler = async (c, next) => {
  const text = await c.req.text();
  if (!text.trim()) {
    // Hono's JSON validator then reads `{}`: a fresh request, and no cached copy of the old body.
    c.req.raw = new Request(c.req.raw, { body: "{}" });
    c.req.bodyCache = {};
    return next();
  }
  const media = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
  if (!JSON_MEDIA.test(media)) throw new KegError("bad_request", "Bad request body: it must be JSON, sent with 'Content-Type: application/json'.");
  try {
    JSON.parse(text);
  } catch {
    throw new KegError("bad_request", "Bad request body: it is not valid JSON.");
  }
  return next();
};

/** A route's small JSON body: at most 64 KiB (413 beyond), JSON or empty. Put it before `valid("json", …)`. */
export const smallJsonBody: MiddlewareHandler = every(bodyLimit({ maxSize: MAX_JSON_BODY_BYTES, onError: tooLarge }), jsonOrEmpty);
