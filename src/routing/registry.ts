/**
 * The strategy registry: the one place strategy types are registered (at startup, by `registerBuiltins`) and
 * strategy specs are compiled into plans the scheduler runs.
 *
 * One instance exists per registered type, created at registration from the type's validated params and shared by
 * every plan. Plans are cheap wrappers (instances + weights), cached per spec string so a busy header costs one
 * Map lookup per request.
 *
 * @module
 */
import type { Strategy, StrategyDeps, StrategyFactory } from "./framework";
import { invalidStrategy, parseStrategySpec, STRATEGY_NAME } from "./strategy-spec";

/** One strategy of a compiled plan with its normalised weight. */
export interface PlanEntry {
  readonly strategy: Strategy;
  /** The integer weight as written (≥ 1). */
  readonly weight: number;
  /** `weight / Σ weights` of the plan: in (0, 1], and the entries' shares sum to 1. */
  readonly share: number;
}

/** A compiled strategy spec: what the scheduler runs for one request. Immutable. */
export interface StrategyPlan {
  /** The spec string as given to `resolve`. */
  readonly raw: string;
  /** Non-empty, in the order written. */
  readonly entries: readonly PlanEntry[];
}

/** Options of {@link createStrategyRegistry}. */
export interface StrategyRegistryOptions {
  /**
   * Params per strategy type, from configuration. Each type's value is checked by its factory's `paramsSchema` when
   * the type is registered; a type without an entry gets `{}` (so the schema's defaults apply).
   */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Passed to every factory. Default: `{ now: Date.now }`. */
  readonly deps?: StrategyDeps;
  /** Most compiled plans kept; at the bound the least recently used is evicted. Default 256, at least 1. */
  readonly planCacheSize?: number;
}

/** Registered strategy types and the compiled-plan cache. */
export interface StrategyRegistry {
  /**
   * Register a type and create its instance. Call at startup only.
   *
   * @throws Error when the type is already registered or not kebab-case, or as `type: message` when its params
   *   fail `paramsSchema` or its factory throws.
   */
  register<P>(factory: StrategyFactory<P>): void;
  /** Whether `type` is registered. */
  has(type: string): boolean;
  /** Registered types, in registration order. */
  types(): readonly string[];
  /**
   * Compile a spec string (`least-request:3,random`) into a plan. Cached per string.
   *
   * @throws RouteError `Code.InvalidStrategy` (`x-error-routing: true`) when the spec does not parse or names a type
   *   that is not registered.
   */
  resolve(spec: string): StrategyPlan;
  /**
   * Check that every type named in `params` is registered, so a misspelt type in configuration fails startup
   * instead of being ignored. Call once registration is complete.
   *
   * @throws Error naming the unknown types.
   */
  checkParams(): void;
  /** Number of compiled plans currently cached (for `/debug/state` and tests). */
  cachedPlans(): number;
}

/** Default bound of the plan cache: the header is client-controlled, so distinct strings must not grow memory. */
export const DEFAULT_PLAN_CACHE_SIZE = 256;

/** Render a thrown value (zod error, Error, anything) as one line for a startup message. */
function describe(err: unknown): string {
  if (typeof err === "object" && err !== null && "issues" in err && Array.isArray(err.issues)) {
    return (err.issues as { path?: unknown; message?: unknown }[])
      .map((i) => {
        const path = Array.isArray(i.path) && i.path.length > 0 ? `${i.path.join(".")}: ` : "";
        return `${path}${String(i.message)}`;
      })
      .join("; ");
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Create an empty registry. `registerBuiltins(registry)` fills it with kvroute's strategies.
 *
 * @example
 * const registry = createStrategyRegistry({ params: { "least-request": {} } });
 * registerBuiltins(registry);
 * registry.checkParams();
 * registry.resolve("least-request:3,random");
 */
export function createStrategyRegistry(options: StrategyRegistryOptions = {}): StrategyRegistry {
  const params = options.params ?? {};
  const deps: StrategyDeps = options.deps ?? { now: Date.now };
  const planCacheSize = Math.max(1, Math.floor(options.planCacheSize ?? DEFAULT_PLAN_CACHE_SIZE));
  const instances = new Map<string, Strategy>();
  // Insertion order doubles as recency order: a hit is re-inserted at the end, eviction takes the first key.
  const plans = new Map<string, StrategyPlan>();

  function compile(spec: string): StrategyPlan {
    const parsed = parseStrategySpec(spec);
    let total = 0;
    for (const e of parsed.entries) total += e.weight;
    const entries = parsed.entries.map((e): PlanEntry => {
      const strategy = instances.get(e.name);
      if (!strategy) throw invalidStrategy(spec);
      return Object.freeze({ strategy, weight: e.weight, share: e.weight / total });
    });
    return Object.freeze({ raw: spec, entries: Object.freeze(entries) });
  }

  return {
    register(factory) {
      const type = factory.type;
      if (!STRATEGY_NAME.test(type)) throw new Error(`strategy type "${type}" is not lower-case kebab-case`);
      if (instances.has(type)) throw new Error(`strategy type "${type}" is already registered`);
      const raw = Object.prototype.hasOwnProperty.call(params, type) ? params[type] : {};
      const parsed = factory.paramsSchema.safeParse(raw);
      if (!parsed.success) throw new Error(`${type}: ${describe(parsed.error)}`, { cause: parsed.error });
      let strategy: Strategy;
      try {
        strategy = factory.create(parsed.data, deps);
      } catch (err) {
        throw new Error(`${type}: ${describe(err)}`, { cause: err });
      }
      // The type is the registry key, the metric label and the spec name at once; they must agree.
      if (strategy.type !== type)
        throw new Error(`${type}: factory created a strategy of type "${strategy.type}"`);
      instances.set(type, strategy);
      // A cached plan never names an unregistered type, so registration cannot make one stale; clearing anyway
      // keeps the cache trivially consistent with the registered set.
      plans.clear();
    },
    has: (type) => instances.has(type),
    types: () => [...instances.keys()],
    resolve(spec) {
      const hit = plans.get(spec);
      if (hit) {
        plans.delete(spec);
        plans.set(spec, hit);
        return hit;
      }
      const plan = compile(spec);
      if (plans.size >= planCacheSize) {
        const oldest = plans.keys().next();
        if (!oldest.done) plans.delete(oldest.value);
      }
      plans.set(spec, plan);
      return plan;
    },
    checkParams() {
      const unknown = Object.keys(params).filter((t) => !instances.has(t));
      if (unknown.length > 0) {
        throw new Error(`params given for unregistered strategy type(s): ${unknown.join(", ")}`);
      }
    },
    cachedPlans: () => plans.size,
  };
}
