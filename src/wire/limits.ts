/** Bounds both sides know (docs/security.md "Limits"). Plain values: the CLI imports them without loading the schema library. @module */

/** JSON bodies other than the upload. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;
/** A user lock's note. */
export const MAX_NOTE_CHARS = 1000;
/** Words of a run (the script's arguments, a program and its arguments, pip's words), and items of its other lists. */
export const MAX_LIST_ITEMS = 10_000;
