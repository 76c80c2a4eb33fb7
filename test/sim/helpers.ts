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
import { loadSimTokenizer } from "../../src/sim/server/tokenizer";

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

/**
 * A started pod and kvroute's tokenizers of the same spec (the pod tokenizes with the simulator's own, so tests
 * compare the two implementations); `close` releases both.
 */
export interface TestPod {
  readonly pod: PodServer;
  readonly tokenizers: LocalTokenizerRegistry;
  close(): Promise<void>;
}

export async function startPod(
  o: Omit<Partial<PodServerOptions>, "tokenizer"> & {
    tokenizer?: string;
    paramsOver?: Partial<SimEngineParams>;
  } = {},
): Promise<TestPod> {
  const { tokenizer: spec = "character", paramsOver, ...rest } = o;
  const tokenizers = createTokenizerRegistry({ defaultSpec: spec, workers: 0 });
  const tokenizer = loadSimTokenizer(spec);
  const pod = await PodServer.start({ model: MODEL, params: fastParams(paramsOver), tokenizer, ...rest });
  return {
    pod,
    tokenizers,
    async close() {
      await pod.close();
      tokenizer.free();
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

/** Poll `cond` until it holds; reject after `timeoutMs` (generous: under CPU starvation polls run late). */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
