/**
 * Which profile of a model's config (`model.aibrix.ai/config`, parsed in `cluster/model-config.ts`) a request
 * uses, and which strategy wins (AIBrix's `applyConfigProfile` and `deriveRoutingStrategyFromContext`): pure
 * functions of the config and the request.
 *
 * @module
 */
import type { AutoHints, ModelConfig, ModelConfigProfile } from "../cluster";

/** Profile selected when neither the `config-profile` header nor `defaultProfile` names one (AIBrix's name). */
export const DEFAULT_PROFILE_NAME = "default";
/** Request header naming the profile to use. */
export const CONFIG_PROFILE_HEADER = "config-profile";
/** `config-profile` value that asks for selection by the profiles' request-size hints. */
export const AUTO_PROFILE = "auto";

/** What auto selection knows about the request. Absent values match no hint on them. */
export interface RequestFeatures {
  readonly promptTokens?: number | undefined;
  readonly maxTokens?: number | undefined;
}

/** A profile chosen for one request. */
export interface ProfileSelection {
  readonly name: string;
  readonly profile: ModelConfigProfile;
}

function matches(h: AutoHints, f: RequestFeatures): boolean {
  const { promptTokens: p, maxTokens: m } = f;
  if (h.promptTokensGte !== undefined && (p === undefined || p < h.promptTokensGte)) return false;
  if (h.promptTokensLt !== undefined && (p === undefined || p >= h.promptTokensLt)) return false;
  if (h.maxTokensGte !== undefined && (m === undefined || m < h.maxTokensGte)) return false;
  if (h.maxTokensLt !== undefined && (m === undefined || m >= h.maxTokensLt)) return false;
  return true;
}

const hintCount = (h: AutoHints): number => Object.keys(h).length;

/**
 * Negative when `a` is more specific than `b`: more hints, then (as AIBrix) the higher lower bound and the lower
 * upper bound, prompt before max tokens. Zero when equally specific (then the name order decides).
 */
function bySpecificity(a: AutoHints, b: AutoHints): number {
  const INF = Number.POSITIVE_INFINITY;
  return (
    hintCount(b) - hintCount(a) ||
    (b.promptTokensGte ?? 0) - (a.promptTokensGte ?? 0) ||
    Math.sign((a.promptTokensLt ?? INF) - (b.promptTokensLt ?? INF)) ||
    (b.maxTokensGte ?? 0) - (a.maxTokensGte ?? 0) ||
    Math.sign((a.maxTokensLt ?? INF) - (b.maxTokensLt ?? INF))
  );
}

/** The name of the most specific profile whose hints all match, or undefined when none does. */
export function autoProfileName(config: ModelConfig, features: RequestFeatures): string | undefined {
  let best: { name: string; hints: AutoHints } | undefined;
  // Names are iterated in sorted order (see parseModelConfig), so the first of equally specific profiles wins.
  for (const [name, profile] of Object.entries(config.profiles)) {
    const hints = profile.hints;
    if (hints === undefined || !matches(hints, features)) continue;
    if (best === undefined || bySpecificity(hints, best.hints) < 0) best = { name, hints };
  }
  return best?.name;
}

/**
 * The profile for a request: the one `requested` names (`config-profile` header, trimmed), `auto` → the best hint
 * match; a name that does not exist, no name, or no auto match → `defaultProfile`, else `"default"`. Undefined when
 * that profile does not exist either (the locked strategy, if any, still applies).
 */
export function selectProfile(
  config: ModelConfig,
  requested: string | undefined,
  features: RequestFeatures,
): ProfileSelection | undefined {
  const wanted = requested?.trim() ?? "";
  const name =
    wanted.toLowerCase() === AUTO_PROFILE
      ? autoProfileName(config, features)
      : wanted === ""
        ? undefined
        : wanted;
  const exact = name === undefined ? undefined : own(config, name);
  if (exact) return exact;
  return own(config, config.defaultProfile ?? DEFAULT_PROFILE_NAME);
}

function own(config: ModelConfig, name: string): ProfileSelection | undefined {
  if (!Object.hasOwn(config.profiles, name)) return undefined;
  const profile = config.profiles[name];
  return profile === undefined ? undefined : { name, profile };
}

/** Where a request's strategy spec came from. */
export type StrategySource = "locked" | "header" | "profile" | "default";

/**
 * AIBrix's strategy precedence: the config's `lockedRoutingStrategy`, then the `routing-strategy` header, then the
 * selected profile's `routingStrategy`, then the configured default. Empty (after trimming) counts as absent. The
 * caller validates the result; an invalid one is the client's (or the operator's) 400, never silently skipped.
 */
export function strategyFor(
  config: ModelConfig | undefined,
  selection: ProfileSelection | undefined,
  header: string | undefined,
  defaultStrategy: string,
): { readonly spec: string; readonly source: StrategySource } {
  if (config?.lockedRoutingStrategy) return { spec: config.lockedRoutingStrategy, source: "locked" };
  const h = header?.trim();
  if (h) return { spec: h, source: "header" };
  const p = selection?.profile.routingStrategy;
  if (p) return { spec: p, source: "profile" };
  return { spec: defaultStrategy, source: "default" };
}

/** What {@link requestStrategy} reads of a request. */
export interface StrategyRequest {
  readonly headers: { get(name: string): string | undefined };
  readonly request: RequestFeatures;
  readonly strategyHeader: string | undefined;
}

/**
 * A request's model config (as AIBrix: the first of the model's pods that carries one), its selected profile and
 * its strategy spec by AIBrix's precedence (locked, header, profile, default). The director decides with it; the
 * P/D router reads it first, to know a `pd` request before any pod is picked.
 */
export function requestStrategy(
  pods: readonly { readonly modelConfig?: ModelConfig | undefined }[] | undefined,
  input: StrategyRequest,
  defaultStrategy: string,
): { readonly selection: ProfileSelection | undefined; readonly spec: string } {
  const config = pods?.find((p) => p.modelConfig !== undefined)?.modelConfig;
  const { promptTokens, maxTokens } = input.request;
  const selection =
    config && selectProfile(config, input.headers.get(CONFIG_PROFILE_HEADER), { promptTokens, maxTokens });
  return { selection, spec: strategyFor(config, selection, input.strategyHeader, defaultStrategy).spec };
}
