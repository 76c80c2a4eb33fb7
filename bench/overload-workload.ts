/**
 * The workload of `npm run bench -- routing --scenario overload`: four tenants in three priority bands, each
 * request carrying its tenant's `user` and `x-kvroute-priority` headers, at a chosen multiple of the simulated
 * fleet's saturation rate.
 *
 * - `interactive` (band `interactive`, priority 1): Poisson, 15% of the offered load. Small enough that even at 3×
 *   saturation (0.45× of the fleet) flow control can serve all of it, so its TTFT is what strict priority buys.
 * - `standard-a` and `standard-b` (band `standard`, priority 0): the two equal-weight tenants the fairness index is
 *   taken over, equal in demand too (Poisson, 25% of the load each), so a fair share is an equal share: at 2×
 *   saturation the band alone asks for about the whole fleet, and whatever flow control holds back or drops must
 *   not fall on one of them more than on the other.
 * - `batch` (band `batch`, priority -1, sheddable): 35% of the load on average, in bursts: it sends only during
 *   the first quarter of every {@link BURST_PERIOD_MS} window, at four times its mean rate.
 *
 * Prompts are distinct random text (no prefix sharing, so the prefix cache plays no part and the fleet's cost per
 * request is the same under every strategy), lengths uniform in {@link PROMPT_TOKENS}, {@link OUTPUT_TOKENS}
 * output tokens each (short: the driver's SSE work stays small next to the pods').
 *
 * @module
 */
import { exponential, mixSeed, prng, tokenText, uniformInt } from "./e2e/text";
import type { Rng } from "./e2e/text";
import type { Workload, WorkloadRequest } from "./e2e/workloads";

/** The priority header flow control reads (higher first, negative = sheddable). */
export const PRIORITY_HEADER = "x-kvroute-priority";
/** The tenant header flow control (and vtc) reads. */
export const USER_HEADER = "user";

/** One priority band as the benchmark reports it. */
export interface OverloadBand {
  readonly name: string;
  readonly priority: number;
  /**
   * The band's TTFT objective (ms): a request that completes with its first token within it counts toward
   * goodput. Interactive: about 2× the unloaded TTFT of a 2,000-token prompt on a `demo` pod (≈ 0.2 s prefill plus
   * the chunked-prefill steps it shares); standard: a few seconds; batch: lenient.
   */
  readonly ttftSloMs: number;
}

/** One tenant of the workload. */
export interface OverloadTenant {
  /** The `user` header value. */
  readonly user: string;
  readonly band: string;
  /** Share of the offered request rate. */
  readonly share: number;
  readonly arrivals: "poisson" | "bursty";
}

/** The bands, highest priority first. */
export const OVERLOAD_BANDS: readonly OverloadBand[] = [
  { name: "interactive", priority: 1, ttftSloMs: 1_000 },
  { name: "standard", priority: 0, ttftSloMs: 5_000 },
  { name: "batch", priority: -1, ttftSloMs: 30_000 },
];

/** The tenants (shares sum to 1). */
export const OVERLOAD_TENANTS: readonly OverloadTenant[] = [
  { user: "interactive", band: "interactive", share: 0.15, arrivals: "poisson" },
  { user: "standard-a", band: "standard", share: 0.25, arrivals: "poisson" },
  { user: "standard-b", band: "standard", share: 0.25, arrivals: "poisson" },
  { user: "batch", band: "batch", share: 0.35, arrivals: "bursty" },
];

/** The equal-weight tenants whose served tokens the fairness index compares. */
export const FAIRNESS_TENANTS: readonly string[] = ["standard-a", "standard-b"];

/** Prompt length range, tokens of the `character` tokenizer (one per byte). */
export const PROMPT_TOKENS = { min: 1_000, max: 2_000 } as const;
/** Output tokens of every request (`ignore_eos`, so exactly this many). */
export const OUTPUT_TOKENS = 32;
/** The batch tenant's burst cycle: it sends during the first quarter of each period. */
export const BURST_PERIOD_MS = 8_000;
const BURST_DUTY = 0.25;

/** Options of {@link overloadWorkload}. */
export interface OverloadWorkloadOptions {
  readonly seed: number;
  /** Offered requests per second over all tenants. */
  readonly rate: number;
  /** Requests over all tenants (split by share). */
  readonly requests: number;
}

/** Arrival times (ms) of `count` requests at `rate`/s; bursty ones are Poisson at rate/duty within the on-phases. */
export function tenantArrivals(
  count: number,
  rate: number,
  kind: OverloadTenant["arrivals"],
  rand: Rng,
): number[] {
  if (!(rate > 0)) throw new Error(`rate must be positive, got ${rate}`);
  const onRate = kind === "bursty" ? rate / BURST_DUTY : rate;
  const onMs = BURST_PERIOD_MS * BURST_DUTY;
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += exponential(rand, 1000 / onRate);
    // Bursty: `t` is time spent "on"; each on-phase of onMs starts a new period.
    out.push(kind === "bursty" ? Math.floor(t / onMs) * BURST_PERIOD_MS + (t % onMs) : t);
  }
  return out;
}

/** The seeded overload workload, requests sorted by send time. */
export function overloadWorkload(o: OverloadWorkloadOptions): Workload {
  const requests: WorkloadRequest[] = [];
  OVERLOAD_TENANTS.forEach((tenant, ti) => {
    const band = OVERLOAD_BANDS.find((b) => b.name === tenant.band);
    if (!band) throw new Error(`tenant ${tenant.user}: unknown band ${tenant.band}`);
    const count = Math.max(1, Math.round(o.requests * tenant.share));
    const rand = prng(mixSeed(o.seed, 0xf1, ti));
    const times = tenantArrivals(count, o.rate * tenant.share, tenant.arrivals, rand);
    times.forEach((atMs, i) => {
      const inputTokens = uniformInt(rand, PROMPT_TOKENS.min, PROMPT_TOKENS.max);
      requests.push({
        id: `ovl-${tenant.user}-${i}`,
        atMs,
        prompt: tokenText(inputTokens, prng(mixSeed(o.seed, 0xf2, ti, i)), "character"),
        maxTokens: OUTPUT_TOKENS,
        inputTokens,
        headers: { [USER_HEADER]: tenant.user, [PRIORITY_HEADER]: String(band.priority) },
      });
    });
  });
  requests.sort((a, b) => a.atMs - b.atMs);
  return { name: "overload", tokenizer: "character", requests };
}
