/**
 * The model config that discovery reads from AIBrix's `model.aibrix.ai/config` pod annotation
 * (AIBrix `pkg/plugins/gateway/configprofiles`).
 *
 * ```json
 * { "lockedRoutingStrategy": "least-request", "defaultProfile": "fast",
 *   "profiles": { "fast": { "routingStrategy": "random", "requestsPerSecond": 20,
 *                           "routingConfig": { "promptTokensLt": 512 } } } }
 * ```
 *
 * Parsing is strict and bounded (the annotation is operator input, but a large or deep document costs every pod
 * update); a bad document yields a reason and no config, so one mistyped annotation never breaks discovery.
 * Discovery parses it here; profile selection and strategy precedence live in `routing/config-profile.ts`.
 *
 * @module
 */
import { z } from "zod";

/** Largest accepted annotation, in UTF-16 code units. Real configs are a few hundred bytes. */
export const MAX_MODEL_CONFIG_CHARS = 16 * 1024;
/** Most profiles one config may define. */
export const MAX_PROFILES = 32;

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
