/** The KegError a call throws: fails the test when it throws nothing or something else. */
import { expect } from "bun:test";
import { KegError } from "../../src/errors.ts";

export function thrownKegError(fn: () => unknown): KegError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KegError);
    return error as KegError;
  }
  throw new Error("expected a KegError");
}
