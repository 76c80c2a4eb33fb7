/**
 * A running kvroute (the real harness: gRPC ext_proc and HTTP on loopback) that has routed a few requests end to
 * end — streamed with usage, plain JSON, through `prefix-cache` so the prefix lookup counters move — and its
 * `/metrics` page as a client scrapes it. Shared by the tests that read the exposition as a whole (promtool, the
 * dashboard's metric names).
 *
 * @module
 */
import { pod, responseBody, responseHeaders, startHarness } from "../extproc/harness";
import { decide } from "../extproc/request-phase";
import type { Harness } from "../extproc/harness";
import { finishedLine } from "../extproc/harness-probes";
import { REQUEST_FAMILIES as BENCH_REQUEST_FAMILIES } from "../../bench/routing-metrics-check";

/** A prompt of several blocks whatever the tokenizer, so prefix lookups count blocks. */
const PROMPT = "The quick brown fox jumps over the lazy dog. ".repeat(8);

/**
 * The families the request path records (the list `make demo`'s metrics check looks for too), and the build info:
 * each must have samples after {@link routeSome}.
 */
export const REQUEST_FAMILIES = [...BENCH_REQUEST_FAMILIES, "kvroute_build_info"] as const;

/** Start kvroute with two pods of `m1`, `prefix-cache` as the default strategy and Node's process metrics on. */
export function startRoutedHarness(): Promise<Harness> {
  return startHarness(
    // Never dialled: the harness scrapes nothing and no test sends traffic to the pods themselves.
    [pod("a", "127.0.0.1", ["m1"], true, 18101), pod("b", "127.0.0.1", ["m1"], true, 18102)],
    ["--routing-algorithm", "prefix-cache"],
    {},
    { processMetrics: true },
  );
}

/** One chat completion through ext_proc and back, streamed (SSE with usage) or as one JSON body. */
async function complete(h: Harness, id: string, stream: boolean): Promise<void> {
  const s = h.client.open();
  const fields = stream ? { stream, stream_options: { include_usage: true } } : {};
  await decide(s, { headers: { "x-request-id": id }, prompt: PROMPT, fields });
  const usage = '"usage":{"prompt_tokens":96,"completion_tokens":3,"total_tokens":99}';
  if (stream) {
    await s.exchange(responseHeaders(200, { "content-type": "text/event-stream" }));
    await s.exchange(responseBody('data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n', false));
    await s.exchange(responseBody('data: {"choices":[{"index":0,"delta":{"content":"bc"}}]}\n\n', false));
    await s.exchange(responseBody(`data: {"choices":[],${usage}}\n\ndata: [DONE]\n\n`, true));
  } else {
    await s.exchange(responseHeaders(200, { "content-type": "application/json" }));
    await s.exchange(
      responseBody(`{"choices":[{"index":0,"message":{"role":"assistant","content":"abc"}}],${usage}}`, true),
    );
  }
  s.end();
  await s.status;
  await finishedLine(h, { requestId: id, outcome: "success" });
}

/** Route three streamed and one JSON completion of the same prompt, each to its end. */
export async function routeSome(h: Harness): Promise<void> {
  for (let i = 0; i < 3; i++) await complete(h, `scrape-stream-${i}`, true);
  await complete(h, "scrape-json", false);
}

/** `/metrics` over HTTP, as Prometheus reads it. */
export async function scrapeMetrics(h: Harness): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${h.server.httpPort}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** Sample lines (not comments) of `family`: its own name, or its `_bucket`/`_sum`/`_count` series. */
export function samplesOf(text: string, family: string): string[] {
  const re = new RegExp(`^${family}(_bucket|_sum|_count)?(\\{| )`);
  return text.split("\n").filter((l) => re.test(l));
}
