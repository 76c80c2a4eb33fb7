/**
 * One prefill hop of a disaggregated request, once its prefill pod is picked: send the prefill request in the
 * engine's form, release the prefill pick when the hop ends (its reservation is the prefill token load the next
 * decision sees, and its outcome goes to passive health), and say what the decode request's body is.
 *
 * @module
 */
import type { Outcome, Pick } from "../framework";
import type { PrefillClient, PrefillFailure, PrefillResult } from "./prefill-client";
import { parseResponse } from "./prefill-forms";
import type { JsonObject, PrefillForm } from "./prefill-forms";

/** A routed prefill pick. */
export type PrefillPick = Extract<Pick, { t: "routed" | "fallback" }>;

/** What the hop gave the decode request. */
export type HopResult =
  | { readonly ok: true; readonly decodeBody: JsonObject; readonly ms: number }
  | { readonly ok: false; readonly reason: PrefillFailure; readonly ms: number };

/** What {@link runPrefillHop} needs. */
export interface PrefillHop {
  readonly client: PrefillClient;
  readonly prefill: PrefillPick;
  readonly form: PrefillForm;
  readonly path: string;
  readonly original: JsonObject;
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal | undefined;
  readonly nowMs: () => number;
  /** The hop ended (`ok`: the decode request got its parameters) after `seconds`; not called when cancelled. */
  readonly onPrefill?: ((ok: boolean, seconds: number) => void) | undefined;
}

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

/**
 * Send the prefill request. The prefill pick is released exactly once, when the request ends, whether the caller
 * awaits it (vLLM: the decode body needs the answer) or not (SGLang: the engines meet through the bootstrap server,
 * so the decode body is known at once and the decode request does not wait, as AIBrix does). The promise never
 * rejects; a cancelled hop resolves `{ ok: false, reason: "cancelled" }`.
 */
export function runPrefillHop(hop: PrefillHop): {
  readonly now?: HopResult;
  readonly done: Promise<HopResult>;
} {
  const { prefill, form, original, nowMs } = hop;
  const started = nowMs();
  // An async form's decode body does not depend on the prefill's answer.
  const asyncBody = form.async ? form.decodeBody(original, undefined) : undefined;
  const sent = hop.client.post(
    prefill.pod,
    hop.path,
    Buffer.from(JSON.stringify(form.prefillBody(original)), "utf8"),
    hop.headers,
    hop.signal,
  );
  const done = sent.then((r): HopResult => {
    const ms = nowMs() - started;
    const decodeBody = r.ok ? (asyncBody ?? form.decodeBody(original, parseResponse(r.body))) : undefined;
    if (r.ok || r.reason !== "cancelled") hop.onPrefill?.(decodeBody !== undefined, ms / 1000);
    prefill.release(prefillOutcome(r, decodeBody !== undefined, ms));
    if (!r.ok) return { ok: false, reason: r.reason, ms };
    return decodeBody === undefined
      ? { ok: false, reason: "prefill-malformed", ms }
      : { ok: true, decodeBody, ms };
  });
  if (asyncBody === undefined) return { done };
  return { now: { ok: true, decodeBody: asyncBody, ms: nowMs() - started }, done };
}
