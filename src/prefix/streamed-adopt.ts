/**
 * Whether a streamed prompt ({@link StreamedPrompt}) may stand in for the ordinary preparation of a parsed request:
 * only when it is the same prompt, in the same context, with every block size the plan needs hashed. The keys are
 * the contract, so the check is exact where the keys look: the leading bytes (or ids) that were hashed are
 * compared with the parsed prompt's, and the rest by its length (all any consumer reads of it).
 *
 * @module
 */
import type { InferenceRequest } from "../request";
import type { StreamedPrompt } from "./streamed-prompt";

/**
 * What happened to a streamed body's prompt (a metric label: a closed set).
 * - `used`: its keys and tokens were used, no tokenizer ran;
 * - `abandoned`: the scanner did not follow the body (shape, escapes it does not take, a model whose tokenizer is
 *   not `character`);
 * - `mismatch`: complete, but not the parsed request's prompt, model or context;
 * - `block-sizes`: the plan needs a block size that was not hashed.
 */
export type StreamedOutcome = "used" | "abandoned" | "mismatch" | "block-sizes";

/** What the ordinary path would do for the request. */
export interface AdoptionCheck {
  readonly request: InferenceRequest;
  /** The context the director chose. */
  readonly context: string;
  /** The name of the model's tokenizer (`character` for UTF-8 bytes), read only for a text prompt. */
  readonly tokenizerName: () => string | undefined;
  /** Block sizes the plan hashes up front (the rest are hashed on demand from the tokens). */
  readonly neededSizes: Iterable<number>;
}

const utf8 = new TextEncoder();

/** Whether `s` may be used for the request: `used`, or why not. */
export function adoptionOf(s: StreamedPrompt, c: AdoptionCheck): Exclude<StreamedOutcome, "abandoned"> {
  const { request } = c;
  if (s.model !== request.model || s.context !== c.context) return "mismatch";
  for (const size of c.neededSizes) if (!s.keys.has(size)) return "block-sizes";
  let covered = 0;
  for (const [size, keys] of s.keys) covered = Math.max(covered, size * keys.length);
  const prompt = request.prompt;
  if (s.kind === "text") {
    if (prompt.t !== "text" || c.tokenizerName() !== "character") return "mismatch";
    if (Buffer.byteLength(prompt.text, "utf8") !== s.bytes.length) return "mismatch";
    // Whole characters are written: 4 spare bytes make room for the one that straddles `covered`.
    const head = new Uint8Array(covered + 4);
    utf8.encodeInto(prompt.text, head);
    return Buffer.compare(head.subarray(0, covered), s.bytes.subarray(0, covered)) === 0
      ? "used"
      : "mismatch";
  }
  if (prompt.t !== "tokens") return "mismatch";
  const ids = prompt.ids[0] ?? [];
  if (ids.length !== s.tokens.length) return "mismatch";
  // As `Uint32Array.from` stores them.
  for (let i = 0; i < covered; i++) if ((ids[i] as number) >>> 0 !== s.tokens[i]) return "mismatch";
  return "used";
}
