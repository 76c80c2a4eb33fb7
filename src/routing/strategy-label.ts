/**
 * The `strategy` metric label of a request. The spec comes from the client's `routing-strategy` header as often as
 * from configuration, and weights make the distinct valid strings unbounded (`random:1` … `random:1000000`), so the
 * raw string is never a label. The label is:
 *
 * - the type, for a spec with one registered strategy (`random:7` → `random`);
 * - the canonical spec (`least-request:3,random`), for a combination that a configured spec also normalises to
 *   (the default strategy): a fixed set, known at start;
 * - `combined`, for any other combination of registered strategies (a client's own mix);
 * - `unknown`, for a spec that does not parse or names an unregistered type.
 *
 * So the label takes at most (registered types + configured combinations + 2) values, whatever clients send.
 *
 * @module
 */
import { parseStrategySpec } from "./strategy-spec";
import type { StrategySpecEntry } from "./strategy-spec";

/** Label of a combination no configured spec names. */
export const COMBINED_STRATEGY_LABEL = "combined";
/** Label of a spec that does not parse or names an unregistered strategy. */
export const UNKNOWN_STRATEGY_LABEL = "unknown";

/** `name[:weight]` joined by commas, weight 1 omitted, no spaces: one string per meaning as written. */
function canonical(entries: readonly StrategySpecEntry[]): string {
  return entries.map((e) => (e.weight === 1 ? e.name : `${e.name}:${e.weight}`)).join(",");
}

/** Entries of `spec` when it parses and names only registered types. */
function registeredEntries(
  spec: string,
  isRegistered: (type: string) => boolean,
): readonly StrategySpecEntry[] | undefined {
  let entries: readonly StrategySpecEntry[];
  try {
    entries = parseStrategySpec(spec).entries;
  } catch {
    return undefined;
  }
  return entries.every((e) => isRegistered(e.name)) ? entries : undefined;
}

/**
 * Build the labeller from the registry's check and the configured specs (e.g. the default strategy). Each call
 * parses the spec (at most `MAX_SPEC_CHARS` characters): linear in the header, no state kept per value.
 */
export function createStrategyLabeler(
  isRegistered: (type: string) => boolean,
  configuredSpecs: readonly string[],
): (spec: string) => string {
  const configured = new Set<string>();
  for (const spec of configuredSpecs) {
    const entries = registeredEntries(spec, isRegistered);
    if (entries !== undefined && entries.length > 1) configured.add(canonical(entries));
  }
  return (spec) => {
    const entries = registeredEntries(spec, isRegistered);
    if (entries === undefined) return UNKNOWN_STRATEGY_LABEL;
    const [only] = entries;
    if (entries.length === 1 && only !== undefined) return only.name;
    const form = canonical(entries);
    return configured.has(form) ? form : COMBINED_STRATEGY_LABEL;
  };
}
