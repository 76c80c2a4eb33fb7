/**
 * The decision's facts in the `kvroute` dynamic metadata namespace, through a real kvroute over gRPC: strategy, pod
 * name and decision time always; the prefix lookup's blocks only when a strategy looked a prefix up (a first prompt
 * hits none and falls back, the same prompt again hits every block); the fallback reason only for a fallback. The
 * `envoy.lb` namespace beside it stays the endpoint-picker protocol's, pick first.
 */
import type { Pod } from "../../src/cluster/pod";
import type { ProtoValue } from "../../src/extproc/messages";
import type { ExtProcStream, Harness } from "./harness";
import { pod, responseHeaders, startHarness } from "./harness";
import { decide, kvrouteFields, lbFields, targetOf } from "./request-phase";

const PODS: Pod[] = [pod("p1", "127.0.0.61", ["m1"]), pod("p2", "127.0.0.62", ["m1"])];
const PROMPT = "the same long prompt ".repeat(40);

/** The kvroute namespace as plain values. */
function facts(fields: Record<string, ProtoValue>): Record<string, string | number | undefined> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.stringValue ?? v.numberValue]));
}

async function finish(stream: ExtProcStream): Promise<void> {
  await stream.exchange(responseHeaders(200, { "content-type": "application/json" }, true));
  stream.end();
  await stream.status;
}

describe("the kvroute dynamic metadata namespace", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--log-level", "warn"]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("least-request: strategy, pod and decision time; no prefix keys; envoy.lb unchanged beside it", async () => {
    const stream = h.client.open();
    const reply = await decide(stream, { headers: { "routing-strategy": "least-request" } });
    const target = targetOf(reply);
    const picked = PODS.find((p) => p.address === target);
    const f = facts(kvrouteFields(reply));
    expect(Object.keys(f).sort()).toEqual(["decision_ms", "pod", "strategy"]);
    expect(f).toMatchObject({ strategy: "least-request", pod: picked?.name });
    expect(f["decision_ms"]).toBeGreaterThanOrEqual(0);
    expect(lbFields(reply)["x-gateway-destination-endpoint"]?.stringValue?.split(",")[0]).toBe(target);
    expect(Object.keys(reply.dynamic_metadata?.fields ?? {}).sort()).toEqual(["envoy.lb", "kvroute"]);
    await finish(stream);
  });

  it("prefix-cache: the lookup's blocks, a miss with its fallback reason, then the same prompt a full hit", async () => {
    const first = h.client.open();
    const miss = facts(
      kvrouteFields(await decide(first, { headers: { "routing-strategy": "prefix-cache" }, prompt: PROMPT })),
    );
    await finish(first);
    const looked = miss["prefix_lookup_blocks"];
    expect(looked).toBeGreaterThan(0);
    expect(miss).toMatchObject({
      strategy: "prefix-cache",
      prefix_hit_blocks: 0,
      fallback_reason: "no-prefix-match",
    });
    const second = h.client.open();
    const hit = facts(
      kvrouteFields(
        await decide(second, { headers: { "routing-strategy": "prefix-cache" }, prompt: PROMPT }),
      ),
    );
    await finish(second);
    expect(hit).toMatchObject({
      strategy: "prefix-cache",
      pod: miss["pod"],
      prefix_hit_blocks: looked,
      prefix_lookup_blocks: looked,
    });
    expect(hit["fallback_reason"]).toBeUndefined();
  });
});
