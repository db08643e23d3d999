/** The version of keg and keg-agent, injected by build/compile.ts. @module */
declare const KEG_VERSION: string | undefined;

export const VERSION: string = typeof KEG_VERSION === "string" ? KEG_VERSION : "0.0.0-dev";
