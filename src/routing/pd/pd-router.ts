/**
 * The P/D step of a decision: after the director picked a decode pod with the `pd` strategy, choose a prefill pod
 * of the same roleset, send it the prefill request, and answer with the decode pod plus the decode request body
 * that carries the prefill's KV-transfer parameters. It wraps the director (same `routeWithPrompt` contract), so
 * the director's pick stays synchronous and the hop is one awaited step after it, as the headroom queue's wait is
 * one before it.
 *
 * Decode is chosen first (load and KV usage among decode pods), then prefill within the decode pod's roleset (the
 * pairing constraint) by the prefill strategy (`--pd-prefill-strategy`: prefix hits and prefill token work by
 * default). The prefill pick is a real director decision: its in-flight reservation is the prefill token load the
 * next decision sees, and its release reports the hop's outcome to passive health.
 *
 * The request is never lost to the hop: a prompt whose uncached part is short, or any failure of the prefill
 * request, routes it to the decode pod unchanged (it prefills there), counted by reason and named in the
 * `x-kvroute-pd-fallback` response header. Only the client's stream ending aborts it (nobody is left to answer).
 *
 * @module
 */
import { podsForModel, pdPlacement } from "../../cluster";
import type { ClusterSnapshot, Pod } from "../../cluster";
import { Code, RouteError } from "../../errors";
import { CONFIG_PROFILE_HEADER, selectProfile } from "../config-profile";
import type { Director, RouteInput } from "../director";
import type { Outcome, Pick, PdStep } from "../framework";
import type { StrategyRegistry } from "../registry";
import type { PrefillClient, PrefillFailure, PrefillResult } from "./prefill-client";
import { formFor, parseBody, parseResponse } from "./prefill-forms";
import type { JsonObject, KvConnectorType } from "./prefill-forms";

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
  | "body-not-mutable"
  | "body-not-json"
  | "engine-unsupported"
  | "no-prefill-pod"
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
  /** Resolves a pick's strategy spec, to tell a `pd` decision from others. */
  readonly registry: StrategyRegistry;
  readonly cluster: () => ClusterSnapshot;
  readonly client: PrefillClient;
  /** Strategy spec choosing the prefill pod among the roleset's prefill pods. */
  readonly prefillStrategy: string;
  /** Uncached prompt tokens below which the decode pod prefills itself; a model's profile may override it. */
  readonly minPrefillTokens: number;
  readonly connector: KvConnectorType;
  readonly observer?: PdObserver;
  readonly nowMs?: () => number;
  readonly random?: () => number;
}

type Routed = Extract<Pick, { t: "routed" | "fallback" }>;

/**
 * The prefill pick's outcome, for passive health and observations. kvroute's own connect failure and timeout take
 * the verdicts Envoy's would (`envoy-connect-failure`, `envoy-timeout`): the prefill pod failed the same way.
 */
function prefillOutcome(r: PrefillResult, ok: boolean, ms: number): Outcome {
  if (r.ok)
    return { kind: ok ? "success" : "upstream-error", status: r.status, source: "pod", durationMs: ms };
  switch (r.reason) {
    case "cancelled":
      return { kind: "cancelled" };
    case "prefill-connect":
      return { kind: "upstream-error", source: "envoy-connect-failure" };
    case "prefill-timeout":
      return { kind: "upstream-error", source: "envoy-timeout" };
    default:
      return {
        kind: "upstream-error",
        ...(r.status === undefined ? {} : { status: r.status, source: "pod" }),
      };
  }
}

/** The uncached prompt tokens on the decode pod: the estimate less the share its prefix lookup found cached. */
function uncachedTokens(pick: Routed, promptTokens: number): number {
  const p = pick.prefix;
  return p && p.lookupBlocks > 0
    ? Math.round(promptTokens * (1 - p.hitBlocks / p.lookupBlocks))
    : promptTokens;
}

/** The model's own threshold (`routingConfig.pdMinPrefillTokens` of its selected profile), when it sets one. */
function modelThreshold(pod: Pod, input: RouteInput): number | undefined {
  const config = pod.modelConfig;
  if (config === undefined) return undefined;
  const { request } = input;
  const selection = selectProfile(config, input.headers.get(CONFIG_PROFILE_HEADER), {
    promptTokens: request.promptTokens,
    maxTokens: request.maxTokens,
  });
  const v = selection?.profile.routingConfig?.[MIN_PREFILL_TOKENS_KEY];
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** The director's `routeWithPrompt` with the P/D step after its pick. */
export interface PdRouter {
  /** As `Director.routeWithPrompt`; a `pd` pick of a decode pod may carry `body` and `pd` (see the module). */
  routeWithPrompt(input: PdRouteInput): Pick | Promise<Pick>;
}

/** Wrap `director` with the P/D step. */
export function createPdRouter(options: PdRouterOptions): PdRouter {
  const { director, registry, client, observer = {} } = options;
  const nowMs = options.nowMs ?? (() => performance.now());
  const random = options.random ?? Math.random;

  const usesPd = (spec: string): boolean => {
    try {
      return registry.resolve(spec).entries.some((e) => e.strategy.type === "pd");
    } catch {
      return false;
    }
  };

  /** The decode pick as is, saying why there was no hop. */
  function skip(pick: Routed, reason: PdSkipReason, step: Omit<PdStep, "skipped"> = {}): Routed {
    observer.onSkip?.(reason);
    const responseHeaders: (readonly [string, string])[] = [...pick.responseHeaders];
    if (reason !== "short-prompt") responseHeaders.push([PD_FALLBACK_HEADER, reason]);
    return { ...pick, responseHeaders, pd: { ...step, skipped: reason } };
  }

  /** The roleset's ready prefill pods' addresses, as the prefill decision's subset. */
  function prefillAddresses(model: string, roleset: string): Set<string> {
    const out = new Set<string>();
    for (const p of podsForModel(options.cluster(), model) ?? []) {
      const at = pdPlacement(p);
      if (p.ready && at?.role === "prefill" && at.roleset === roleset) out.add(p.address);
    }
    return out;
  }

  async function disaggregate(input: PdRouteInput, pick: Routed, roleset: string): Promise<Pick> {
    const { request } = input;
    const threshold = modelThreshold(pick.pod, input) ?? options.minPrefillTokens;
    if (uncachedTokens(pick, request.promptTokens) < threshold) return skip(pick, "short-prompt");
    if (input.body === undefined) return skip(pick, "body-not-mutable");
    const original = parseBody(input.body);
    if (original === undefined) return skip(pick, "body-not-json");
    const subset = prefillAddresses(request.model, roleset);
    if (subset.size === 0) return skip(pick, "no-prefill-pod");
    let prefill: Pick;
    try {
      prefill = await director.routeWithPrompt({
        ...input,
        strategyHeader: options.prefillStrategy,
        subset,
        phases: undefined,
        counted: true,
      });
    } catch (err) {
      if (input.signal?.aborted === true) throw err;
      return skip(pick, "no-prefill-pod");
    }
    if (prefill.t === "none") return skip(pick, "no-prefill-pod");
    const form = formFor(prefill.pod, options.connector, random);
    if (form === undefined) {
      prefill.release({ kind: "cancelled" });
      return skip(pick, "engine-unsupported");
    }
    const headers: Record<string, string> = { "x-request-id": input.requestId };
    const auth = input.headers.get("authorization");
    if (auth !== undefined) headers.authorization = auth;
    const started = nowMs();
    const sent = client.post(
      prefill.pod,
      request.path,
      Buffer.from(JSON.stringify(form.prefillBody(original)), "utf8"),
      headers,
      input.signal,
    );
    // Settled once, whether awaited (vLLM) or not (SGLang): releases the prefill pick with the hop's outcome.
    const settle = sent.then((r) => {
      const ms = nowMs() - started;
      const decodeBody = r.ok && !form.async ? form.decodeBody(original, parseResponse(r.body)) : undefined;
      const ok = r.ok && (form.async || decodeBody !== undefined);
      if (r.ok || r.reason !== "cancelled") observer.onPrefill?.(ok, ms / 1000);
      prefill.release(prefillOutcome(r, ok, ms));
      return { r, decodeBody, ms };
    });
    const prefillStep = { prefillPod: prefill.pod.name };
    let decodeBody: JsonObject | undefined;
    let prefillMs: number;
    if (form.async) {
      // SGLang: the engines meet through the bootstrap server; the prefill's answer is not needed to decode.
      void settle;
      decodeBody = form.decodeBody(original, undefined);
      prefillMs = nowMs() - started;
    } else {
      const done = await settle;
      prefillMs = done.ms;
      if (!done.r.ok) {
        if (done.r.reason === "cancelled") throw aborted();
        return skip(pick, done.r.reason, { ...prefillStep, prefillMs });
      }
      decodeBody = done.decodeBody;
      if (decodeBody === undefined) return skip(pick, "prefill-malformed", { ...prefillStep, prefillMs });
    }
    observer.onPair?.(roleset);
    return {
      ...pick,
      body: Buffer.from(JSON.stringify(decodeBody), "utf8"),
      responseHeaders: [
        ...pick.responseHeaders,
        [PREFILL_TARGET_POD, prefill.pod.name],
        [PREFILL_TARGET_POD_IP, prefill.pod.ip],
      ],
      pd: { ...prefillStep, prefillMs },
    };
  }

  /** The stream ended during the hop: nobody is left to answer (the decode slot is given back by the caller). */
  function aborted(): RouteError {
    return new RouteError(Code.Unavailable, "the request's stream ended during its prefill");
  }

  function afterPick(input: PdRouteInput, pick: Pick): Pick | Promise<Pick> {
    if (pick.t === "none" || !usesPd(pick.strategy)) return pick;
    const at = pdPlacement(pick.pod);
    // A model that is not disaggregated, or whose prefill pods are all gone: a plain decision.
    if (at?.role !== "decode") return pick;
    // Whatever the step throws (the stream ended, or a bug), the decode slot goes back: no pick reaches the session.
    return disaggregate(input, pick, at.roleset).catch((err: unknown) => {
      pick.release({ kind: input.signal?.aborted === true ? "cancelled" : "error" });
      throw err;
    });
  }

  return {
    routeWithPrompt(input: PdRouteInput) {
      const picked = director.routeWithPrompt(input);
      return picked instanceof Promise ? picked.then((p) => afterPick(input, p)) : afterPick(input, picked);
    },
  };
}
