/**
 * Envoy ends every ext_proc stream with END_STREAM then RST_STREAM(NO_ERROR). Node's HTTP/2 server allows a burst
 * of 1000 incoming resets per connection refilled at 33/s by default and answers GOAWAY beyond; kvroute raises the
 * limit (src/grpc-stream-reset-limit.ts). This drives more conversations on ONE connection than the default
 * bucket allows in the time they take (a count bound, not a clock bound: the run goes on until it has sent more
 * than 1000 + 33 × elapsed seconds resets, so a slow machine only makes it longer) and requires no GOAWAY and
 * every conversation answered.
 */
import { performance } from "node:perf_hooks";
import { EnvoyLikeClient } from "../../bench/envoy-like-client";
import type { ConversationOutcome } from "../../bench/envoy-like-client";
import { buildWorkload } from "../../bench/extproc-workload";
import { loadExtProcDefinition } from "../../src/extproc/proto";
import { pod, startHarness } from "./harness";
import type { Harness } from "./harness";

/** Node's default incoming RST_STREAM bucket (nghttp2): burst and refill per second. */
const DEFAULT_RESET_BURST = 1000;
const DEFAULT_RESET_RATE = 33;
/** Upper bound on the run whatever the machine's speed (the loop stops there and the count check fails). */
const MAX_CONVERSATIONS = 20_000;
const CONCURRENCY = 32;

/**
 * Past the default bucket by more than its refill granularity: nghttp2 refills by whole seconds of the session's
 * age (a session younger than `seconds`: it is accepted after the run's clock starts), so by then it has allowed at
 * most burst + rate × (⌊seconds⌋ + 1), under 33 more than burst + ⌈rate × seconds⌉.
 */
const MARGIN = 50;

/**
 * Conversations the default bucket would not have allowed `seconds` after the first: the run's whole length, so it
 * costs no more CPU than the proof needs. With Node's defaults (`--grpc-stream-reset-burst 1000
 * --grpc-stream-reset-rate 33`) this run drew a GOAWAY and failed conversations on each of two tries, as it did
 * with a margin of 10 (and of 200, the margin it had before).
 */
function beyondDefaultLimit(seconds: number): number {
  return DEFAULT_RESET_BURST + Math.ceil(DEFAULT_RESET_RATE * seconds) + MARGIN;
}

let h: Harness;
let client: EnvoyLikeClient | undefined;

beforeAll(async () => {
  h = await startHarness(
    [pod("a", "10.0.0.1", ["m1"]), pod("b", "10.0.0.2", ["m1"])],
    ["--log-level", "warn"],
  );
});

afterAll(async () => {
  client?.close();
  await h.close();
});

it("sustains Envoy's END_STREAM + RST_STREAM endings past Node's default reset limit on one connection", async () => {
  const encode = loadExtProcDefinition().processService.Process.requestSerialize;
  const workload = buildWorkload("envoy-reset", "m1", 64, encode);
  client = new EnvoyLikeClient(`http://127.0.0.1:${h.server.grpcPort}`, 1);
  const failures = new Map<string, number>();
  let launched = 0;
  let answered = 0;
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const wanted = (): number => beyondDefaultLimit(elapsed());
  const worker = async (c: EnvoyLikeClient): Promise<void> => {
    while (launched < Math.min(wanted(), MAX_CONVERSATIONS)) {
      const outcome: ConversationOutcome = await c.conversation(workload, launched++);
      if (outcome.ok) answered++;
      else failures.set(outcome.reason, (failures.get(outcome.reason) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(client as EnvoyLikeClient)));
  const seconds = elapsed();

  expect({ goaways: client.counts.goaways, failures: Object.fromEntries(failures) }).toEqual({
    goaways: 0,
    failures: {},
  });
  expect(answered).toBe(launched);
  expect(client.counts.connections).toBe(1);
  // The run really went past what the default bucket allows in its duration.
  expect(launched).toBeGreaterThan(DEFAULT_RESET_BURST + DEFAULT_RESET_RATE * seconds);
}, 180_000);

it("with a low reset limit, answers GOAWAY and counts the failed connection (the flags reach HTTP/2)", async () => {
  const low = await startHarness(
    [pod("a", "10.0.0.1", ["m1"])],
    ["--log-level", "warn", "--grpc-stream-reset-burst", "20", "--grpc-stream-reset-rate", "1"],
  );
  const lowClient = new EnvoyLikeClient(`http://127.0.0.1:${low.server.grpcPort}`, 1);
  try {
    const encode = loadExtProcDefinition().processService.Process.requestSerialize;
    const workload = buildWorkload("envoy-reset", "m1", 64, encode);
    // Sequential, so the bucket (20, +1/s) runs dry well before 200 conversations whatever the machine's speed.
    for (let seq = 0; seq < 200 && lowClient.counts.goaways === 0; seq++)
      await lowClient.conversation(workload, seq);
    expect(lowClient.counts.goaways).toBeGreaterThan(0);
    const line = await low.log.waitFor((l) => l["msg"] === "gRPC connection ended by an HTTP/2 error");
    expect(line["code"]).toBe("ERR_HTTP2_ERROR");
    const counted = await low.server.metrics.registry.getSingleMetricAsString(
      "kvroute_grpc_connection_errors_total",
    );
    expect(counted).toMatch(/kvroute_grpc_connection_errors_total\{code="ERR_HTTP2_ERROR"\} [1-9]/);
  } finally {
    lowClient.close();
    await low.close();
  }
}, 120_000);
