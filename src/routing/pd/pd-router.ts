/**
 * The P/D decision of a `pd` request for a disaggregated model, in the order (AIBrix's too): pick the
 * prefill pod, run the prefill request, take its KV-transfer parameters, then pick the decode pod. It wraps the
 * director (same `routeWithPrompt` contract); every pick is an ordinary director decision, so each is a real
 * reservation released exactly once, and the hop is one awaited step between them.
 *
 * 1. **Prefill pod**: among the ready prefill pods of the model's complete rolesets (a roleset with both roles; half
 *    a pair cannot serve a request), by `--pd-prefill-strategy` (prefix hits and prefill token work by default).
 *    This is the request's admitted decision (requests-per-second window, flow control). Its reservation is the
 *    prefill token load the next decision sees, and is released when the hop ends, with the hop's outcome.
 * 2. **Prefill request** to that pod (`prefill-hop.ts`); SGLang's is sent and not awaited (bootstrap).
 * 3. **Decode pod**: among the ready decode pods of the prefill pod's roleset (the pairing constraint), by the
 *    request's own strategy spec (`pd`: load over free KV cache), picked after the hop so it sees the load of that
 *    moment. It reserves a request slot and no prompt tokens: the prompt's KV arrives from the prefill pod, so the
 *    prompt is not work the decode pod computes (at most its last, partial block).
 *
 * The request is never lost to the hop: a prompt whose uncached part is shorter than the threshold (the whole
 * prompt, or — with a prefix index and the prompt's block keys — what the ready decode pod holding most of it would
 * still compute, and then one of the decode pods that holds enough of it takes it), or any failure of the prefill request,
 * routes it to a decode pod with its body unchanged (it prefills there) — after a failed hop, one of the prefill
 * pod's roleset — counted by reason and named in the `x-kvroute-pd-fallback` response header. Only the client's
 * stream ending aborts it (nobody is left to answer).
 *
 * @module
 */
import { completeRolesets, pdPlacement, podsForModel, promptContext } from "../../cluster";
import type { ClusterSnapshot, Pod } from "../../cluster";
import { Code, RouteError } from "../../errors";
import { requestStrategy } from "../config-profile";
import type { Director, DirectorOptions, RouteInput } from "../director";
import type { Pick, PdStep, PrefixDeps } from "../framework";
import { calibratedPromptTokens, type PromptTokenCalibration } from "../prompt-token-calibration";
import type { StrategyRegistry } from "../registry";
import type { PrefillClient, PrefillFailure } from "./prefill-client";
import { formFor, parseBody } from "./prefill-forms";
import type { JsonObject, KvConnectorType } from "./prefill-forms";
import { runPrefillHop } from "./prefill-hop";
import type { HopResult, PrefillPick } from "./prefill-hop";
import { podsHoldingPrompt } from "./uncached-prompt";

/** AIBrix's response headers naming the prefill pod (name) and its IP. */
export const PREFILL_TARGET_POD = "prefill-target-pod";
export const PREFILL_TARGET_POD_IP = "prefill-target-pod-ip";
/** kvroute's response header saying why a P/D request was not disaggregated. */
export const PD_FALLBACK_HEADER = "x-kvroute-pd-fallback";
/** The model config profile's `routingConfig` key overriding `--pd-min-prefill-tokens` for the model. */
export const MIN_PREFILL_TOKENS_KEY = "pdMinPrefillTokens";

/** Why a P/D request prefilled on its decode pod (a closed set: metric label and header value). */
export type PdSkipReason =
  | "short-prompt"
  | "cached-prompt"
  | "body-not-mutable"
  | "body-not-json"
  | "engine-unsupported"
  | "no-prefill-pod"
  | "no-decode-pod"
  | Exclude<PrefillFailure, "cancelled">;

/** Metrics and logs of the P/D step; every hook is optional and must not throw. */
export interface PdObserver {
  /** A prefill request ended (`ok`: the decode request got its parameters), after `seconds`. */
  onPrefill?(ok: boolean, seconds: number): void;
  /** A P/D request went to its decode pod without a prefill hop. */
  onSkip?(reason: PdSkipReason): void;
  /** A request was disaggregated within `roleset`. */
  onPair?(roleset: string): void;
}

/** A decision's input, plus the body the answer may replace (absent when the processing mode cannot). */
export interface PdRouteInput extends RouteInput {
  readonly body?: Uint8Array;
}

/** Options of {@link createPdRouter}. */
export interface PdRouterOptions {
  readonly director: Director;
  /** Resolves a request's strategy spec, to tell a `pd` request from others. */
  readonly registry: StrategyRegistry;
  readonly cluster: () => ClusterSnapshot;
  readonly client: PrefillClient;
  /** Strategy spec choosing the prefill pod among the complete rolesets' prefill pods. */
  readonly prefillStrategy: string;
  /**
   * Uncached prompt tokens (on the best decode pod) below which a decode pod prefills itself; a model's profile may
   * override it.
   */
  readonly minPrefillTokens: number;
  /**
   * The director's prompt preparation and the prefix indexes, to count the prompt tokens a decode pod already
   * holds. Absent (either): the whole prompt counts as uncached.
   */
  readonly preparePrompt?: DirectorOptions["preparePrompt"];
  readonly prefix?: PrefixDeps;
  /** The director's calibration of prompt-token estimates (used when the prompt is not tokenized). */
  readonly promptCalibration?: PromptTokenCalibration;
  readonly connector: KvConnectorType;
  readonly observer?: PdObserver;
  readonly nowMs?: () => number;
  readonly random?: () => number;
}

/** The director's `routeWithPrompt` with the P/D decision for `pd` requests of disaggregated models. */
export interface PdRouter {
  /** As `Director.routeWithPrompt`; a `pd` pick of a decode pod may carry `body` and `pd` (see the module). */
  routeWithPrompt(input: PdRouteInput): Pick | Promise<Pick>;
}

/** A hop that did not end by cancellation. */
type Settled =
  Exclude<HopResult, { ok: false }> | (Extract<HopResult, { ok: false }> & { reason: PdSkipReason });

/** The stream ended during the hop: nobody is left to answer. */
function aborted(): RouteError {
  return new RouteError(Code.Unavailable, "the request's stream ended during its prefill");
}

/** Wrap `director` with the P/D decision. */
export function createPdRouter(options: PdRouterOptions): PdRouter {
  const { director, registry, client, observer = {} } = options;
  const nowMs = options.nowMs ?? (() => performance.now());
  const random = options.random ?? Math.random;

  const usesPd = (spec: string): boolean => {
    try {
      return registry.resolve(spec).entries.some((e) => e.strategy.type === "pd");
    } catch {
      return false; // the director answers the invalid spec (400)
    }
  };

  /**
   * Addresses of the model's ready pods of `role` in its complete rolesets (in `roleset`, when given). The gateway's
   * endpoint subset bounds the decode pods only: it names where Envoy may send the request, and the prefill
   * request is kvroute's own.
   */
  function addresses(input: RouteInput, role: "prefill" | "decode", roleset?: string): Set<string> {
    const pods = podsForModel(options.cluster(), input.request.model) ?? [];
    const allowed = (p: Pod): boolean =>
      pdPlacement(p)?.role === "prefill" || (input.subset?.has(p.address) ?? true);
    const usable = pods.filter((p) => p.ready && allowed(p));
    const out = new Set<string>();
    for (const set of completeRolesets(usable).values())
      if (roleset === undefined || set.name === roleset) for (const p of set[role]) out.add(p.address);
    return out;
  }

  /** `pick` as is, saying why there was no hop (when it is a decode pod: a plain model's pick says nothing). */
  function skipped(pick: Pick, reason: PdSkipReason, step: Omit<PdStep, "skipped"> = {}): Pick {
    if (pick.t === "none" || pdPlacement(pick.pod)?.role !== "decode") return pick;
    observer.onSkip?.(reason);
    const responseHeaders: (readonly [string, string])[] = [...pick.responseHeaders];
    if (reason !== "short-prompt" && reason !== "cached-prompt")
      responseHeaders.push([PD_FALLBACK_HEADER, reason]);
    return { ...pick, responseHeaders, pd: { ...step, skipped: reason } };
  }

  /** The request's own decision (the `pd` strategy keeps decode pods of complete rolesets), without a hop. */
  async function direct(
    input: RouteInput,
    reason: PdSkipReason,
    step?: Omit<PdStep, "skipped">,
  ): Promise<Pick> {
    return skipped(await director.routeWithPrompt(input), reason, step);
  }

  /**
   * The decode pick after a prefill pick: in `roleset`, after the fleet's latest state. Without a ready decode pod
   * there any decode pod of a complete roleset takes the request with its body unchanged (`no-decode-pod`).
   */
  async function decode(
    input: RouteInput,
    roleset: string,
    prefill: PrefillPick,
    hop: Settled,
  ): Promise<Pick> {
    const next = { ...input, counted: true, phases: undefined };
    const step = { prefillPod: prefill.pod.name, prefillMs: hop.ms };
    const subset = addresses(input, "decode", roleset);
    const pick =
      subset.size === 0
        ? undefined
        : await director.routeWithPrompt({ ...next, subset, ...(hop.ok ? { reserveTokens: 0 } : {}) });
    if (pick === undefined || pick.t === "none")
      return direct(next, hop.ok ? "no-decode-pod" : hop.reason, step);
    if (!hop.ok) return skipped(pick, hop.reason, step);
    observer.onPair?.(roleset);
    return {
      ...pick,
      body: Buffer.from(JSON.stringify(hop.decodeBody), "utf8"),
      responseHeaders: [
        ...pick.responseHeaders,
        [PREFILL_TARGET_POD, prefill.pod.name],
        [PREFILL_TARGET_POD_IP, prefill.pod.ip],
      ],
      pd: step,
    };
  }

  async function disaggregate(input: PdRouteInput, original: JsonObject): Promise<Pick> {
    const prefill = await director.routeWithPrompt({
      ...input,
      strategyHeader: options.prefillStrategy,
      subset: addresses(input, "prefill"),
    });
    const after = { ...input, counted: true, phases: undefined };
    if (prefill.t === "none") return direct(after, "no-prefill-pod");
    const roleset = pdPlacement(prefill.pod)?.roleset;
    const form = formFor(prefill.pod, options.connector, random);
    if (roleset === undefined || form === undefined) {
      prefill.release({ kind: "cancelled" });
      return direct(after, roleset === undefined ? "no-prefill-pod" : "engine-unsupported");
    }
    const headers: Record<string, string> = { "x-request-id": input.requestId };
    const auth = input.headers.get("authorization");
    if (auth !== undefined) headers.authorization = auth;
    const hop = runPrefillHop({
      client,
      prefill,
      form,
      path: input.request.path,
      original,
      headers,
      signal: input.signal,
      nowMs,
      onPrefill: observer.onPrefill?.bind(observer),
    });
    // SGLang: the decode goes at once (the hop releases its pick when it ends); vLLM: after the answer.
    const result = hop.now ?? (await hop.done);
    if (input.signal?.aborted === true) throw aborted();
    if (result.ok) return decode(input, roleset, prefill, result);
    const { reason, ms } = result;
    if (reason === "cancelled") throw aborted();
    return decode(input, roleset, prefill, { ok: false, reason, ms });
  }

  function route(input: PdRouteInput): Pick | Promise<Pick> {
    const { request } = input;
    const pods = podsForModel(options.cluster(), request.model);
    const { selection, spec } = requestStrategy(pods, input, director.defaultStrategy);
    // Not `pd`, or (below) an unknown model or one without a complete roleset: a plain decision.
    if (!usesPd(spec)) return director.routeWithPrompt(input);
    if (addresses(input, "prefill").size === 0) {
      const picked = director.routeWithPrompt(input);
      // Decode pods without a prefill pod to pair with prefill themselves (counted); other pods are left alone.
      return picked instanceof Promise
        ? picked.then((p) => skipped(p, "no-prefill-pod"))
        : skipped(picked, "no-prefill-pod");
    }
    const own = selection?.profile.routingConfig?.[MIN_PREFILL_TOKENS_KEY];
    const threshold =
      typeof own === "number" && Number.isFinite(own) && own >= 0 ? own : options.minPrefillTokens;
    const estimate = calibratedPromptTokens(request, options.promptCalibration);
    if (estimate < threshold) return direct(input, "short-prompt");
    const { preparePrompt, prefix } = options;
    // Long enough as a whole: what counts is what the best decode pod would still compute. The prompt prepared
    // for that is handed on, so no decision of this request tokenizes it again.
    if (threshold === 0 || preparePrompt === undefined || prefix === undefined) return hop(input);
    const decodePods = (pods ?? []).filter((p) => addresses(input, "decode").has(p.address));
    const context = promptContext(pods ?? [], request.model);
    return preparePrompt(request, context, input.streamed, input.signal).then((prompt) => {
      if (input.signal?.aborted === true) throw aborted();
      const withPrompt = { ...input, prompt };
      const tokens = prompt.tokens?.length ?? estimate;
      const holding = podsHoldingPrompt(tokens, threshold, prompt, decodePods, prefix);
      // The request's own strategy picks among the decode pods that hold enough of the prompt.
      if (holding.length > 0)
        return direct({ ...withPrompt, subset: new Set(holding.map((p) => p.address)) }, "cached-prompt");
      return hop(withPrompt);
    });
  }

  /** Disaggregate `input` when its body allows it. */
  function hop(input: PdRouteInput): Promise<Pick> {
    if (input.body === undefined) return direct(input, "body-not-mutable");
    const original = parseBody(input.body);
    if (original === undefined) return direct(input, "body-not-json");
    return disaggregate(input, original);
  }

  return { routeWithPrompt: route };
}
