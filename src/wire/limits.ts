/** Bounds both sides know (docs/security.md "Limits"). Plain values: the CLI imports them without loading the schema library. @module */

/** JSON bodies other than the upload. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;
/** A user lock's note. */
export const MAX_NOTE_CHARS = 1000;
