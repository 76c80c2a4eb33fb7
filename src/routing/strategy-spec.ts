/**
 * The routing-strategy grammar AIBrix accepts in the `routing-strategy` header and in configuration:
 * a comma list of `name[:weight]`, e.g. `least-request:3,random`.
 *
 * The header is client-controlled, so the parser bounds the input before doing any work and never echoes more
 * than {@link MAX_SPEC_CHARS} characters back in its error message.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";

/** Longest accepted spec string, in UTF-16 code units. Sixteen long names with weights fit comfortably. */
export const MAX_SPEC_CHARS = 256;
/** Most entries (before zero-weight entries are dropped) a spec may list. */
export const MAX_SPEC_ENTRIES = 16;
/** Largest accepted weight, as AIBrix (`ParseMultiRouterConfig`). */
export const MAX_WEIGHT = 1_000_000;

/** One `name[:weight]` item with a weight ≥ 1 (zero-weight items are dropped while parsing). */
export interface StrategySpecEntry {
  /** Lower-case kebab-case strategy type, e.g. `least-request`. */
  readonly name: string;
  /** Integer in [1, {@link MAX_WEIGHT}]. */
  readonly weight: number;
}

/** A parsed spec. `entries` is non-empty, in the order written, with distinct names. */
export interface StrategySpec {
  /** The string exactly as given to the parser (echoed in the `routing-strategy` response header). */
  readonly raw: string;
  readonly entries: readonly StrategySpecEntry[];
}

/** A registered strategy name: lower-case ASCII words joined by single hyphens. */
export const STRATEGY_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
// Digits only: AIBrix uses strconv.Atoi, which also takes a sign, but a negative weight is an error anyway and a
// `+` in a header value is more likely a mistake than an intent.
const WEIGHT = /^[0-9]+$/;

/**
 * The error for a spec that does not parse or names an unknown strategy. Its message and header are AIBrix's
 * (`incorrect routing strategy <raw>`, `x-error-routing: true`), which the wire mapping turns into HTTP 400.
 */
export function invalidStrategy(raw: string): RouteError {
  const shown = echoClientText(raw, MAX_SPEC_CHARS);
  return new RouteError(Code.InvalidStrategy, `incorrect routing strategy ${shown}`, {
    errorHeader: ["x-error-routing", "true"],
  });
}

/**
 * Parse a strategy spec. Names and weights are trimmed; a missing weight is 1; a weight of 0 drops the item.
 *
 * @throws RouteError `Code.InvalidStrategy` (with `x-error-routing: true`) for an empty string or item, a name
 *   that is not lower-case kebab-case, a weight that is not an integer in [0, 1,000,000], a duplicate name, every
 *   weight zero, more than {@link MAX_SPEC_ENTRIES} items or more than {@link MAX_SPEC_CHARS} characters.
 *   Whether the names are registered is the registry's check, not the parser's.
 * @example parseStrategySpec("least-request:3, random") // entries: [{least-request, 3}, {random, 1}]
 */
export function parseStrategySpec(raw: string): StrategySpec {
  if (raw.length === 0 || raw.length > MAX_SPEC_CHARS) throw invalidStrategy(raw);
  const items = raw.split(",");
  if (items.length > MAX_SPEC_ENTRIES) throw invalidStrategy(raw);

  const seen = new Set<string>();
  const entries: StrategySpecEntry[] = [];
  for (const item of items) {
    const colon = item.indexOf(":");
    const name = (colon < 0 ? item : item.slice(0, colon)).trim();
    const weightText = colon < 0 ? undefined : item.slice(colon + 1).trim();
    if (!STRATEGY_NAME.test(name) || seen.has(name)) throw invalidStrategy(raw);
    seen.add(name);

    let weight = 1;
    if (weightText !== undefined) {
      // A second colon leaves a non-digit in weightText, so `a:1:2` fails here.
      if (!WEIGHT.test(weightText)) throw invalidStrategy(raw);
      weight = Number(weightText);
      if (weight > MAX_WEIGHT) throw invalidStrategy(raw);
    }
    if (weight > 0) entries.push(Object.freeze({ name, weight }));
  }
  if (entries.length === 0) throw invalidStrategy(raw);
  return Object.freeze({ raw, entries: Object.freeze(entries) });
}
