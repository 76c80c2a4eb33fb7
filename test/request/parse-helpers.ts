/**
 * Shared helpers for the request-parser tests: encode a body, parse it, capture the `RouteError` it throws.
 *
 * @module
 */

import { RouteError } from "../../src/errors";
import type { Code } from "../../src/errors";
import type { InferenceRequest, ParseLimits } from "../../src/request";
import { parseRequest } from "../../src/request";

/** Generous enough for every test body; the size tests pass their own limits. */
export const LIMITS: ParseLimits = { maxBodyBytes: 1 << 20 };

/** UTF-8 bytes of `body`: a string is taken as the raw body text, anything else is JSON-encoded. */
export function bytes(body: unknown): Uint8Array {
  return new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body));
}

/** Parse `body` (raw bytes, raw text, or a value to JSON-encode) posted to `path`. */
export function parse(path: string, body: unknown, limits: ParseLimits = LIMITS): InferenceRequest {
  return parseRequest(path, body instanceof Uint8Array ? body : bytes(body), limits);
}

/** The parts of a `RouteError` the tests compare. */
export interface ErrorShape {
  readonly code: Code;
  readonly message: string;
  readonly param: string | undefined;
}

/** The `RouteError` that parsing `body` throws, reduced to code, message and param; fails if nothing is thrown. */
export function parseError(path: string, body: unknown, limits: ParseLimits = LIMITS): ErrorShape {
  let thrown: unknown;
  try {
    parse(path, body, limits);
  } catch (err) {
    thrown = err;
  }
  if (thrown === undefined) throw new Error(`expected parsing for ${path} to throw`);
  expect(thrown).toBeInstanceOf(RouteError);
  const err = thrown as RouteError;
  // Parsers leave the header to the wire mapping's default for the code.
  expect(err.errorHeader).toBeUndefined();
  return { code: err.code, message: err.message, param: err.param };
}
