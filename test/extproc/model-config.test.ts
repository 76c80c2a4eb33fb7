/**
 * Model config profiles end to end, through the real gRPC server and a real redis-server: the `config-profile`
 * header selects a profile's strategy (echoed as `routing-strategy`, with `x-aibrix-config-profile`), and a
 * profile's `requestsPerSecond` turns the third request of a second into AIBrix's 429.
 */
import type Redis from "ioredis";
import type { Pod } from "../../src/cluster/pod";
import { parseModelConfig } from "../../src/cluster/model-config";
import { rateWindowBin } from "../../src/usage/rate-window";
import { CHAT_HEADERS, body, chatBody, headers, pod, responseHeaders, setHeaders } from "./harness";
import type { ExtProcStream, Harness } from "./harness";
import { startRedisHarness } from "./redis-harness";
import type { RedisHarness } from "./redis-harness";
import type { ProcessingResponse } from "../../src/extproc/messages";

const CONFIG = parseModelConfig({
  defaultProfile: "limited",
  profiles: {
    limited: { routingStrategy: "random", requestsPerSecond: 2 },
    balanced: { routingStrategy: "least-request" },
  },
});
if (!CONFIG.ok) throw new Error(CONFIG.reason);
const withConfig = (p: Pod): Pod => ({ ...p, modelConfig: CONFIG.config });
const PODS = [withConfig(pod("p1", "10.0.0.1", ["m1"])), withConfig(pod("p2", "10.0.0.2", ["m1"]))];

/** Headers an immediate response sets, by name. */
function immediateHeaders(r: ProcessingResponse | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of r?.immediate_response?.headers?.set_headers ?? []) {
    out[o.header.key] = Buffer.from(o.header.raw_value).toString();
  }
  return out;
}

describe("model config profiles (e2e)", () => {
  let rh: RedisHarness;
  let h: Harness;
  let admin: Redis;
  const open: ExtProcStream[] = [];
  // The rate windows' wall clock (injected): a request's second is the test's choice, not the machine's timing.
  let wall = Date.UTC(2026, 0, 1, 12, 0, 0, 500);

  beforeAll(async () => {
    rh = await startRedisHarness(PODS, [], {}, { usageWallNow: () => wall });
    ({ h, reader: admin } = rh);
  });
  afterAll(async () => {
    for (const s of open) s.cancel();
    await rh.close();
  });

  /** Send one chat request; the reply to its body (routed: header mutations; refused: an immediate response). */
  async function send(
    extra: Record<string, string> = {},
  ): Promise<{ s: ExtProcStream; r: ProcessingResponse | undefined }> {
    const s = h.client.open();
    open.push(s);
    await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
    const [r] = await s.exchange(body(chatBody("m1")));
    return { s, r };
  }

  it("config-profile selects the profile's strategy, echoed with the profile's name", async () => {
    const { s, r } = await send({ "config-profile": "balanced" });
    expect(setHeaders(r)["routing-strategy"]).toBe("least-request");
    const [rh] = await s.exchange(responseHeaders(200));
    expect(setHeaders(rh)).toMatchObject({
      "routing-strategy": "least-request",
      "x-aibrix-config-profile": "balanced",
    });
  });

  it("the third request of a second over requestsPerSecond 2 is a 429", async () => {
    // Redis expires a bin's key a real second after its last increment (EXPIRE 1): on a machine so loaded that the
    // requests and the read-back spread over more than that, the count may be gone; such an attempt is retried.
    let attempt = 0;
    let sent: (ProcessingResponse | undefined)[];
    let counted: string | null;
    for (;;) {
      // A second of its own on the injected wall clock: the earlier tests' requests were counted in other bins.
      wall += 10_000;
      const bin = rateWindowBin(wall, 1);
      const started = performance.now();
      sent = [(await send()).r, (await send()).r, (await send()).r];
      counted = await admin.get(`aibrix_model:m1_MODEL_RPS_CURRENT:${bin}`);
      if (performance.now() - started < 900 || ++attempt === 5) break;
    }
    const [first, second, third] = sent;
    for (const routed of [first, second]) {
      expect(routed?.immediate_response).toBeUndefined();
      expect(setHeaders(routed)["routing-strategy"]).toBe("random");
    }
    expect(third?.immediate_response?.status.code).toBe(429);
    expect(immediateHeaders(third)["x-error-model-rps-exceeded"]).toBe("true");
    const envelope = JSON.parse(Buffer.from(third?.immediate_response?.body ?? []).toString()) as {
      error: { message: string; code: string };
    };
    expect(envelope.error).toMatchObject({
      message: "model: m1 has exceeded RPS: 2",
      code: "rate_limit_exceeded",
    });
    // AIBrix's key: every request of the second was counted in the same bin (the refused one too).
    expect(counted).toBe("3");
    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_model_rps_checks_total");
    expect(text).toMatch(/kvroute_model_rps_checks_total\{outcome="exceeded"\} [1-9]/);
    // The next second starts a new bin.
    wall += 1000;
    expect((await send()).r?.immediate_response).toBeUndefined();
  });
});
