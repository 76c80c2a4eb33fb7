/**
 * Client input quoted back in error messages, error headers and log lines (a model name, a strategy spec, a user
 * name). Whatever the client sent, the quote is short and carries no control characters, so it can neither split
 * a header or a log line (CR, LF, NUL) nor grow a reply past the gRPC send limit (a 2 MB model name).
 *
 * @module
 */

/** Longest quote of client input, UTF-8 bytes (the ellipsis marker included). */
export const MAX_ECHO_BYTES = 256;

/** Longest client-facing error message, UTF-8 bytes: the fixed text plus at most a few quotes. */
export const MAX_MESSAGE_BYTES = 1024;

/** What marks a quote that was cut. */
export const ECHO_CUT_MARKER = "…";

/** What replaces a character that is unsafe in a header value or a log line. */
const REPLACEMENT = "\uFFFD";

/**
 * Characters that are unsafe in a header value or a log line: C0 controls (CR, LF, NUL, TAB, …), DEL and C1
 * controls, the Unicode line and paragraph separators, and unpaired surrogates (not encodable as UTF-8).
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * `text` made safe to quote: unsafe characters replaced by U+FFFD, and when its UTF-8 form is longer than
 * `maxBytes`, cut at a character boundary and ended with {@link ECHO_CUT_MARKER} so the result is at most
 * `maxBytes` bytes. Cost is bounded by `maxBytes`, not by the input's length.
 */
export function echoClientText(text: string, maxBytes: number = MAX_ECHO_BYTES): string {
  // A UTF-16 code unit is at least one UTF-8 byte: nothing past the first `maxBytes` units can be kept, so a 2 MB
  // input costs what a short one does.
  const head = text.length > maxBytes ? text.slice(0, maxBytes) : text;
  const safe = head.replace(UNSAFE, REPLACEMENT);
  let bytes = 0;
  for (const ch of safe) bytes += utf8Length(ch.codePointAt(0) ?? 0);
  if (head.length === text.length && bytes <= maxBytes) return safe;
  const budget = Math.max(0, maxBytes - Buffer.byteLength(ECHO_CUT_MARKER));
  let used = 0;
  let end = 0;
  for (const ch of safe) {
    const n = utf8Length(ch.codePointAt(0) ?? 0);
    if (used + n > budget) break;
    used += n;
    end += ch.length;
  }
  return safe.slice(0, end) + ECHO_CUT_MARKER;
}
