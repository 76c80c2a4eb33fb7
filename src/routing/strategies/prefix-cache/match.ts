/**
 * Prefix matching shared by `prefix-cache` and `prefix-cache-and-load`: which index to ask for each pod, with which
 * block size, and what fraction of the prompt each pod holds.
 *
 * @module
 */
import type { Pod } from "../../../cluster";
import type { Outcome, PrefixDeps, PrefixLookup, RouteFinisher, RoutingContext } from "../../framework";

/**
 * Weight of the approximate index's belief for a pod that publishes KV events but whose events show no match: far
 * below any real hit (one block of a 100-block prompt is 0.01), so it only decides between pods that hold nothing.
 */
export const STICKY_HINT_WEIGHT = 1e-3;

/** Hit fractions per candidate, or why there are none. */
export type PrefixMatch =
  | {
      readonly t: "match";
      /** Index-aligned with the pods: matched leading blocks / prompt blocks at that pod's block size, in [0, 1]. */
      readonly fractions: Float64Array;
      /** Whether any pod matched at least one block. */
      readonly any: boolean;
      /**
       * Index-aligned with the pods: leading blocks the pod holds by the index that speaks for it (the approximate
       * index's weak hint for a publishing pod counts 0), and prompt blocks looked up for it. For metrics only.
       */
      readonly hitBlocks: Uint32Array;
      readonly lookupBlocks: Uint32Array;
    }
  | { readonly t: "abstain"; readonly reason: "no-prefix-index" | "no-tokens" };

/**
 * For each pod: the longest run of leading prompt blocks it holds, as a fraction of the prompt's full blocks.
 * Pods whose event stream is live (`publishesEvents`) are looked up in the event index (plus its speculative
 * entries, when on) with the prompt's keys for their engine's block size (the approximate block size until the
 * first event says otherwise); every other pod in the approximate index. When no publishing pod matches, their
 * approximate entries count at {@link STICKY_HINT_WEIGHT}. A prompt shorter than one block has fraction 0
 * everywhere.
 */
export function matchPrefix(
  ctx: RoutingContext,
  pods: readonly Pod[],
  prefix: PrefixDeps | undefined,
): PrefixMatch {
  if (!prefix) return { t: "abstain", reason: "no-prefix-index" };
  const tokens = ctx.prompt.tokens;
  if (!tokens || tokens.length === 0) return { t: "abstain", reason: "no-tokens" };
  const fractions = new Float64Array(pods.length);
  const hitBlocks = new Uint32Array(pods.length);
  const lookupBlocks = new Uint32Array(pods.length);
  // Group pods by (source, block size): one index query per group.
  const groups = new Map<number, number[]>();
  const approximate: number[] = [];
  for (let i = 0; i < pods.length; i++) {
    const key = (pods[i] as Pod).key;
    if (prefix.publishesEvents(key)) {
      const bs = prefix.eventBlockSize(key) ?? prefix.approximateBlockSize;
      const g = groups.get(bs);
      if (g) g.push(i);
      else groups.set(bs, [i]);
    } else {
      approximate.push(i);
    }
  }
  let any = false;
  const run = (
    index: PrefixDeps["events"],
    keys: BigUint64Array,
    members: readonly number[],
    weight = 1,
  ): void => {
    if (members.length === 0) return;
    if (keys.length === 0) return;
    // The weak hint asks again for pods already looked up in the event index: their lookup stays as it was.
    if (weight === 1) for (const i of members) lookupBlocks[i] = keys.length;
    const keysOf = members.map((i) => (pods[i] as Pod).key);
    const matched = index.match(keys, keysOf);
    if (matched.size === 0) return;
    for (const i of members) {
      const n = matched.get((pods[i] as Pod).key);
      if (n !== undefined && n > 0) {
        fractions[i] = weight * Math.min(1, n / keys.length);
        if (weight === 1) hitBlocks[i] = Math.min(n, keys.length);
        any = true;
      }
    }
  };
  for (const [bs, members] of groups) run(prefix.events, leading(ctx.prompt.keys(bs), prefix), members);
  if (!any && groups.size > 0) {
    // No publishing pod holds the prefix any more (evicted, or never prefilled). Rather than scatter the prefix
    // group over the least-loaded pods, each needing a cold prefill, prefer — weakly — the pods kvroute sent it
    // to: the prefill costs the same there, and the group's next requests then find it in one place.
    const publishing = [...groups.values()].flat();
    run(prefix.approximate, approximateKeys(ctx, prefix), publishing, STICKY_HINT_WEIGHT);
  }
  if (approximate.length > 0) run(prefix.approximate, approximateKeys(ctx, prefix), approximate);
  return { t: "match", fractions, any, hitBlocks, lookupBlocks };
}

/**
 * The last prefix match of one strategy instance, kept from `score` until the director asks for the picked pod's
 * lookup (`Strategy.prefixLookup`): both run in the pick's one synchronous step, so the last match is the
 * decision's own, and `ctx` identity guards against a decision that scored but picked nothing.
 */
export interface MatchMemo {
  /** Remember `m` as the match of `ctx` over `pods`; returns `m`. */
  keep(ctx: RoutingContext, pods: readonly Pod[], m: PrefixMatch): PrefixMatch;
  /** What the match of `ctx` found for `pod`, once (the memo is emptied); undefined when there was none. */
  lookup(ctx: RoutingContext, pod: Pod): PrefixLookup | undefined;
}

/** Create an empty memo. */
export function createMatchMemo(): MatchMemo {
  // Three slots rather than one object: nothing allocated per decision.
  let lastCtx: RoutingContext | undefined;
  let lastPods: readonly Pod[] = [];
  let last: Extract<PrefixMatch, { t: "match" }> | undefined;
  return {
    keep(ctx, pods, m) {
      // An abstaining match looked nothing up; dropping the previous one keeps no request's prompt alive.
      lastCtx = m.t === "match" ? ctx : undefined;
      lastPods = m.t === "match" ? pods : [];
      last = m.t === "match" ? m : undefined;
      return m;
    },
    lookup(ctx, pod) {
      const m = last;
      const found = m !== undefined && lastCtx === ctx ? lastPods.indexOf(pod) : -1;
      lastCtx = undefined;
      lastPods = [];
      last = undefined;
      if (m === undefined || found < 0) return undefined;
      const lookupBlocks = m.lookupBlocks[found] as number;
      return lookupBlocks === 0 ? undefined : { hitBlocks: m.hitBlocks[found] as number, lookupBlocks };
    },
  };
}

/**
 * Record in the approximate index that the prompt went to `pod` (always, also for pods that publish events: if
 * the pod's stream breaks, the approximate index already knows what it was sent). For a publishing pod, also
 * record the prompt speculatively at the engine's block size (the keys `matchPrefix` just computed, memoized), so
 * the next request of the same prefix finds it before the pod's `BlockStored` arrives. No-op without tokens or
 * indexes.
 *
 * The approximate entries are provisional: the returned finisher takes them back when the request failed
 * ({@link failed}), since the engine then did not cache the prompt. Recording at routing time rather than at
 * success matters: a generation may run for minutes, and the prefix group's next requests must find the prompt
 * meanwhile.
 */
export function recordRouted(
  ctx: RoutingContext,
  pod: Pod,
  prefix: PrefixDeps | undefined,
): RouteFinisher | undefined {
  if (!prefix || !ctx.prompt.tokens || ctx.prompt.tokens.length === 0) return undefined;
  const keys = approximateKeys(ctx, prefix);
  const speculate = (to: Pod): void => {
    if (!prefix.speculative || !prefix.publishesEvents(to.key)) return;
    const own = leading(
      ctx.prompt.keys(prefix.eventBlockSize(to.key) ?? prefix.approximateBlockSize),
      prefix,
    );
    if (own.length > 0) prefix.speculative.add(to.key, own);
  };
  speculate(pod);
  if (keys.length === 0) return undefined;
  const approximate = prefix.approximate;
  let at = pod.key;
  let ticket = approximate.add(at, keys);
  const finish = (outcome: Outcome): void => {
    if (failed(outcome)) approximate.forget(at, keys, ticket);
  };
  // Another pod served (the gateway retried a fallback): that pod prefilled the prompt, the pick did not. A
  // speculative entry left on the pick expires with its TTL, unconfirmed by any event.
  const moveTo = (to: Pod): void => {
    approximate.forget(at, keys, ticket);
    at = to.key;
    ticket = approximate.add(at, keys);
    speculate(to);
  };
  return Object.assign(finish, { moveTo });
}

/**
 * Whether the engine answered the request with an error (any HTTP status ≥ 400, or no valid status from the
 * upstream, Envoy's local replies to a connect failure included): then it did not cache the prompt. A request
 * cancelled or cut without such a status may well have been prefilled, so it counts as learned.
 */
export function failed(outcome: Outcome): boolean {
  return outcome.kind === "upstream-error" || (outcome.status !== undefined && outcome.status >= 400);
}

/** The approximate index's keys: its own scheme (AIBrix byte blocks) when configured, else kvroute's chain. */
function approximateKeys(ctx: RoutingContext, prefix: PrefixDeps): BigUint64Array {
  return leading(ctx.prompt.approximateKeys?.() ?? ctx.prompt.keys(prefix.approximateBlockSize), prefix);
}

/**
 * The first `maxPromptBlocks` keys (a view, no copy): what index work a request may cause is bounded whatever its
 * length, and a pod holding that much of the prompt's head is as good a match as any.
 */
function leading(keys: BigUint64Array, prefix: PrefixDeps): BigUint64Array {
  const max = prefix.maxPromptBlocks;
  return max !== undefined && keys.length > max ? keys.subarray(0, max) : keys;
}
