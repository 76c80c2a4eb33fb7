/**
 * Model config profiles: AIBrix's `model.aibrix.ai/config` pod annotation (spec/aibrix-gateway.md §2.4 (d), (e)).
 *
 * ```json
 * { "lockedRoutingStrategy": "least-request", "defaultProfile": "fast",
 *   "profiles": { "fast": { "routingStrategy": "random", "requestsPerSecond": 20,
 *                           "routingConfig": { "promptTokensLt": 512 } } } }
 * ```
 *
 * Parsing is strict and bounded (the annotation is operator input, but a large or deep document costs every pod
 * update); a bad document yields a reason and no config, so one mistyped annotation never breaks discovery.
 * Selection and strategy precedence are pure functions of the config and the request.
 *
 * @module
 */
import { z } from "zod";

/** Largest accepted annotation, in UTF-16 code units. Real configs are a few hundred bytes. */
export const MAX_MODEL_CONFIG_CHARS = 16 * 1024;
/** Most profiles one config may define. */
export const MAX_PROFILES = 32;
/** Profile selected when neither the `config-profile` header nor `defaultProfile` names one (AIBrix's name). */
export const DEFAULT_PROFILE_NAME = "default";
/** Request header naming the profile to use. */
export const CONFIG_PROFILE_HEADER = "config-profile";
/** `config-profile` value that asks for selection by the profiles' request-size hints. */
export const AUTO_PROFILE = "auto";

/** Request-size hints in a profile's `routingConfig` that `config-profile: auto` matches against. */
export interface AutoHints {
  /** Matches prompts of at least this many tokens. */
  readonly promptTokensGte?: number;
  /** Matches prompts of fewer than this many tokens. */
  readonly promptTokensLt?: number;
  /** Matches requests whose `max_tokens` (or `max_completion_tokens`) is at least this. */
  readonly maxTokensGte?: number;
  /** Matches requests whose `max_tokens` is less than this. */
  readonly maxTokensLt?: number;
}

/** One named profile. */
export interface ModelConfigProfile {
  /** Strategy spec (e.g. `least-request` or `prefix-cache:2,random`), trimmed; absent when not set. */
  readonly routingStrategy?: string;
  /** The profile's `routingConfig` object as written (other keys are kept for strategies that may read them). */
  readonly routingConfig?: Readonly<Record<string, unknown>>;
  /** The auto-selection hints of `routingConfig`; absent when it has none. */
  readonly hints?: AutoHints;
  /** Per-model request rate limit, requests per second; 0 or absent = unlimited. */
  readonly requestsPerSecond?: number;
}

/** A parsed, validated model config. Immutable. */
export interface ModelConfig {
  /** Pins the strategy model-wide, above the request header. Trimmed; absent when not set. */
  readonly lockedRoutingStrategy?: string;
  /** Profile used when the request names none (or one that does not exist). */
  readonly defaultProfile?: string;
  /** At least one, at most {@link MAX_PROFILES}, keyed by name. */
  readonly profiles: Readonly<Record<string, ModelConfigProfile>>;
}

/** Result of {@link parseModelConfig}; never throws. */
export type ModelConfigParse =
  { readonly ok: true; readonly config: ModelConfig } | { readonly ok: false; readonly reason: string };

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const strategyText = z
  .string()
  .max(256)
  .transform((s) => s.trim());

const hintsSchema = z
  .object({
    promptTokensGte: count.optional(),
    promptTokensLt: count.optional(),
    maxTokensGte: count.optional(),
    maxTokensLt: count.optional(),
  })
  .refine(
    (h) =>
      (h.promptTokensGte === undefined ||
        h.promptTokensLt === undefined ||
        h.promptTokensGte < h.promptTokensLt) &&
      (h.maxTokensGte === undefined || h.maxTokensLt === undefined || h.maxTokensGte < h.maxTokensLt),
    "a ...Gte hint must be below its ...Lt hint (the range would match nothing)",
  );

const profileSchema = z.object({
  routingStrategy: strategyText.optional(),
  routingConfig: z.record(z.string(), z.unknown()).optional(),
  requestsPerSecond: count.optional(),
});

// Unknown keys are dropped, not refused: AIBrix adds fields over time and a newer annotation must still route.
const configSchema = z.object({
  lockedRoutingStrategy: strategyText.optional(),
  defaultProfile: z.string().max(253).optional(),
  profiles: z
    .record(z.string().min(1).max(253), profileSchema)
    .refine((p) => Object.keys(p).length > 0, "must define at least one profile")
    .refine((p) => Object.keys(p).length <= MAX_PROFILES, `must define at most ${MAX_PROFILES} profiles`),
});

/** `profiles.fast.requestsPerSecond: Invalid input`: where and what, on one line. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.map(String).join(".");
  return where === "" ? issue.message : `${where}: ${issue.message}`;
}

/** The hints of a profile's `routingConfig`, or a reason they are malformed. */
function hintsOf(
  name: string,
  routingConfig: Record<string, unknown> | undefined,
): AutoHints | string | undefined {
  if (routingConfig === undefined) return undefined;
  const parsed = hintsSchema.safeParse(routingConfig);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return `profiles.${name}.routingConfig.${first ? describeIssue(first) : "invalid"}`;
  }
  const h = parsed.data;
  const hints: AutoHints = {
    ...(h.promptTokensGte === undefined ? {} : { promptTokensGte: h.promptTokensGte }),
    ...(h.promptTokensLt === undefined ? {} : { promptTokensLt: h.promptTokensLt }),
    ...(h.maxTokensGte === undefined ? {} : { maxTokensGte: h.maxTokensGte }),
    ...(h.maxTokensLt === undefined ? {} : { maxTokensLt: h.maxTokensLt }),
  };
  return Object.keys(hints).length > 0 ? hints : undefined;
}

/**
 * Parse a model config: the annotation's JSON text, or an already-decoded object (the standalone endpoints file).
 * Empty strings are absent (`undefined`) in every string field, as AIBrix treats them.
 */
export function parseModelConfig(input: unknown): ModelConfigParse {
  let doc: unknown = input;
  if (typeof input === "string") {
    if (input.length > MAX_MODEL_CONFIG_CHARS) {
      return { ok: false, reason: `longer than ${MAX_MODEL_CONFIG_CHARS} characters` };
    }
    try {
      doc = JSON.parse(input);
    } catch (err) {
      return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, reason: first ? describeIssue(first) : "invalid" };
  }
  const raw = parsed.data;
  const profiles: Record<string, ModelConfigProfile> = {};
  // Sorted: the auto tie-break and the equality check both rely on a stable order.
  for (const name of Object.keys(raw.profiles).sort()) {
    const p = raw.profiles[name]!;
    const hints = hintsOf(name, p.routingConfig);
    if (typeof hints === "string") return { ok: false, reason: hints };
    profiles[name] = Object.freeze({
      ...(p.routingStrategy ? { routingStrategy: p.routingStrategy } : {}),
      ...(p.routingConfig === undefined ? {} : { routingConfig: Object.freeze({ ...p.routingConfig }) }),
      ...(hints === undefined ? {} : { hints: Object.freeze(hints) }),
      ...(p.requestsPerSecond ? { requestsPerSecond: p.requestsPerSecond } : {}),
    });
  }
  const config: ModelConfig = {
    ...(raw.lockedRoutingStrategy ? { lockedRoutingStrategy: raw.lockedRoutingStrategy } : {}),
    ...(raw.defaultProfile ? { defaultProfile: raw.defaultProfile } : {}),
    profiles: Object.freeze(profiles),
  };
  return { ok: true, config: Object.freeze(config) };
}

/** Whether two configs are equal (discovery skips republishing an unchanged pod). Both are bounded in size. */
export function sameModelConfig(a: ModelConfig | undefined, b: ModelConfig | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

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
