/**
 * What a strategy promises about its behaviour, declared beside its factory: the signal it ranks pods by, the
 * reasons it may abstain (or wait) with, and the contract checks that do not apply to it (each with why).
 *
 * The contract test suite reads these declarations: for each `ranksBy` it builds a fleet where exactly one pod is
 * best by that signal and checks the strategy picks it, and it checks every abstention names a declared reason.
 * The declaration sits in the strategy's module (on its factory) so adding a strategy means declaring it; the
 * suite fails for a registered built-in without one. Nothing in the router reads it.
 *
 * @module
 */

/**
 * The signal a strategy ranks the candidates by. Each value has a fixture builder in the contract suite that makes
 * one pod best by it.
 */
export type RankSignal =
  /** Fewest requests in flight, as kvroute counts them. */
  | "fewest-inflight"
  /** Fewest in flight of two pods sampled at random (deterministic with two candidates). */
  | "fewest-inflight-of-two-sampled"
  /** Lowest `kvCacheUsage` engine metric. */
  | "lowest-kv-cache"
  /** Lowest `gpuCacheUsage` engine metric. */
  | "lowest-gpu-cache"
  /** Fewest requests waiting in the engine's queue. */
  | "fewest-waiting"
  /** Lowest `utilization` engine metric. */
  | "lowest-utilization"
  /** Least in-flight × observed request duration. */
  | "least-busy-time"
  /** Lowest expected latency from observed TTFT and TPOT. */
  | "least-expected-latency"
  /** Most observed output tokens per second per request in flight. */
  | "most-spare-throughput"
  /** Most leading prompt blocks held by the pod (prefix indexes). */
  | "most-prefix-blocks"
  /** The pod named by the session id the client was given. */
  | "session-affinity"
  /** The pod where the requested LoRA adapter is running. */
  | "active-lora-adapter"
  /** Uniformly random: no pod is best, every pod gets picks. */
  | "random"
  /** Least of the SLO pending load kvroute has in flight (under the cap when capped). */
  | "least-pending-load"
  /** Most SLO pending load that still fits under the cap (packing). */
  | "most-pending-load-under-cap"
  /** Per-user fairness: a user without tokens goes to the first pod in pod-key order. */
  | "vtc-fairness";

/** The behaviour checks of the contract suite a strategy may declare a skip for. */
export type ContractCheck =
  | "follows-signal"
  | "declared-abstention"
  | "ready-candidates-only"
  | "load-returns-to-zero"
  | "route-with-prompt"
  | "waits-for-headroom";

/** A strategy's behaviour declaration (see the module comment). */
export interface StrategyContract {
  readonly ranksBy: RankSignal;
  /** Every reason `score` may answer `abstain` or `wait` with (kebab-case constants). */
  readonly abstainsWhen: readonly string[];
  /** Checks that do not apply, each with a non-empty reason (reported as a test named `skipped: …`). */
  readonly skips?: readonly { readonly check: ContractCheck; readonly reason: string }[];
}
