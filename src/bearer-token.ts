/**
 * The token of an `Authorization: Bearer` header value. Shared by the gateway API key check (extproc) and flow
 * control's tenant key (routing), which must agree on what a client's key is.
 *
 * The header is client input, so the parse is a single linear pass: no backtracking regex
 * (`/^\s*bearer\s+(.*?)\s*$/i` is quadratic in the header's length).
 *
 * @module
 */

/** Line terminators: the old pattern's `.` did not cross them, so a token containing one never matched. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;
/** `bearer` and at least one whitespace character, at the start only: linear, no backtracking. */
const BEARER_SCHEME = /^bearer\s/i;

/**
 * The token of a `Bearer` authorization value, or undefined when the value is not one: leading whitespace, the
 * scheme (any case), at least one whitespace, the token, trailing whitespace (whitespace as in JavaScript's `\s`,
 * which is what `trim` removes).
 */
export function bearerToken(authorization: string): string | undefined {
  const value = authorization.trimStart();
  if (!BEARER_SCHEME.test(value)) return undefined;
  const token = value.slice("bearer".length).trim();
  return LINE_TERMINATOR.test(token) ? undefined : token;
}
