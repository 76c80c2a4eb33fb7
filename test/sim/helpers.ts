/**
 * Helpers of the simulator tests: a pod on loopback with a fast engine, JSON/SSE clients over real HTTP, and a
 * bounded poll.
 *
 * @module
 */
import { createTokenizerRegistry } from "../../src/tokenize/registry";
import type { LocalTokenizerRegistry } from "../../src/tokenize/registry";
import { preset } from "../../src/sim/engine/presets";
import type { SimEngineParams } from "../../src/sim/engine/types";
import { PodServer } from "../../src/sim/server/pod-server";
import type { PodServerOptions } from "../../src/sim/server/pod-server";

export const MODEL = "sim-model";

/** The demo preset with microsecond steps: requests finish in milliseconds. */
export function fastParams(over: Partial<SimEngineParams> = {}): SimEngineParams {
  return {
    ...preset("demo"),
    prefillSecondsPerToken: 1e-7,
    decodeStepBaseSeconds: 1e-4,
    decodeStepPerSeqSeconds: 0,
    decodeStepPerKvTokenSeconds: 0,
    ...over,
  };
}

/** A started pod and its tokenizers; `close` releases both. */
export interface TestPod {
  readonly pod: PodServer;
  readonly tokenizers: LocalTokenizerRegistry;
  close(): Promise<void>;
}

export async function startPod(
  o: Partial<PodServerOptions> & { tokenizer?: string; paramsOver?: Partial<SimEngineParams> } = {},
): Promise<TestPod> {
  const tokenizers = createTokenizerRegistry({ defaultSpec: o.tokenizer ?? "character", workers: 0 });
  const pod = await PodServer.start({ model: MODEL, params: fastParams(o.paramsOver), tokenizers, ...o });
  return {
    pod,
    tokenizers,
    async close() {
      await pod.close();
      await tokenizers.close();
    },
  };
}

/** POST JSON (or raw text) and read the JSON answer. */
export async function post(
  url: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (SSE or empty): the caller reads `text`.
  }
  return { status: res.status, json, text };
}

/** The `data:` payloads of an SSE body, in order (`[DONE]` kept as the string). */
export function sseData(text: string): (Record<string, unknown> | "[DONE]")[] {
  return text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6))
    .map((d) => (d === "[DONE]" ? "[DONE]" : (JSON.parse(d) as Record<string, unknown>)));
}

/** Poll `cond` until it holds; reject after `timeoutMs`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
