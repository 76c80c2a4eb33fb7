/**
 * Prefill/decode disaggregation through the simulated pods' real HTTP API, each pod on its own virtual clock (the
 * engine's time moves only when the test advances it, so the transfer cost is exact): the prefill pod answers a
 * `do_remote_decode` request with vLLM's NIXL `kv_transfer_params`; the decode pod given them pulls instead of
 * prefilling and pays the transfer time; a decode pod given no parameters prefills the prompt itself.
 */
import { virtualClock } from "../../src/sim/engine";
import type { VirtualClock } from "../../src/sim/engine";
import { MODEL, post, startPod, until } from "./helpers";
import type { TestPod } from "./helpers";

/** 1 ms/token prefill, 0.1 ms decode steps; a pull of 1000 B/token at 10 MB/s = 0.1 ms/token. */
const OVER = {
  prefillSecondsPerToken: 1e-3,
  kvBytesPerToken: 1000,
  kvTransferBytesPerSecond: 1e7,
};
const STEP_MS = 0.1; // fastParams' decode step

let prefillClock: VirtualClock;
let decodeClock: VirtualClock;
let prefill: TestPod;
let decode: TestPod;
beforeAll(async () => {
  prefillClock = virtualClock();
  decodeClock = virtualClock();
  prefill = await startPod({ clock: prefillClock, paramsOver: OVER });
  decode = await startPod({ clock: decodeClock, paramsOver: OVER, kvSideChannelPort: 5601 });
});
afterAll(async () => {
  await Promise.all([prefill.close(), decode.close()]);
});

/**
 * POST `body` to `pod`, run its virtual clock once the request is in the engine, and return the answer with the
 * virtual milliseconds the engine took.
 */
async function served(
  t: TestPod,
  clock: VirtualClock,
  body: Record<string, unknown>,
): Promise<{ status: number; json: Record<string, unknown>; ms: number }> {
  const answer = post(`${t.pod.url}/v1/completions`, body);
  await until(() => clock.pending() > 0, "the request to reach the engine");
  const ms = clock.runUntilIdle();
  const r = await answer;
  return { status: r.status, json: r.json, ms };
}

describe("sim pods: prefill/decode disaggregation over HTTP", () => {
  it("prefill pod returns kv_transfer_params; the decode pod pulls instead of prefilling; no params: prefills", async () => {
    const prompt = "a".repeat(400); // 400 tokens with the character tokenizer: 25 blocks of 16
    const original = { model: MODEL, prompt, max_tokens: 4, stream: false };

    // The prefill hop as AIBrix sends it: max_tokens 1, not streamed, the parameter skeleton with nulls.
    const p = await served(prefill, prefillClock, {
      ...original,
      max_tokens: 1,
      max_completion_tokens: 1,
      kv_transfer_params: {
        do_remote_decode: true,
        do_remote_prefill: false,
        remote_engine_id: null,
        remote_block_ids: null,
        remote_host: null,
        remote_port: null,
      },
    });
    expect(p.status).toBe(200);
    expect(p.ms).toBeCloseTo(400, 6);
    const params = p.json["kv_transfer_params"] as Record<string, unknown>;
    expect(params).toMatchObject({
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_engine_id: prefill.pod.engineId,
      remote_request_id: p.json["id"],
      remote_host: "127.0.0.1",
      remote_port: 5600,
      tp_size: 1,
    });
    expect(params["remote_block_ids"]).toHaveLength(25);

    // The decode request: the original body plus the returned parameters.
    const d = await served(decode, decodeClock, { ...original, kv_transfer_params: params });
    expect(d.status).toBe(200);
    // 24 full blocks (384 tokens) pulled at 0.1 ms/token, 16 tokens prefilled (16 ms), 3 decode steps.
    expect(d.ms).toBeCloseTo(38.4 + 16 + 3 * STEP_MS, 6);
    expect(d.json["usage"]).toMatchObject({
      prompt_tokens: 400,
      completion_tokens: 4,
      prompt_tokens_details: { cached_tokens: 384 },
    });
    expect(d.json["kv_transfer_params"]).toBeUndefined();
    expect(decode.pod.engine.stats()).toMatchObject({ kvTransfers: 1, kvTransferredTokens: 384 });

    // The fallback path: a decode pod given no parameters prefills a (new) prompt itself.
    const f = await served(decode, decodeClock, { ...original, prompt: "b".repeat(400) });
    expect(f.status).toBe(200);
    expect(f.ms).toBeCloseTo(400 + 3 * STEP_MS, 6);
    expect(f.json["usage"]).toMatchObject({ prompt_tokens_details: { cached_tokens: 0 } });
    expect(decode.pod.engine.stats().kvTransfers).toBe(1);
  });

  it("malformed kv_transfer_params are refused with 400, as vLLM validates them", async () => {
    const bad = [
      "not an object",
      { do_remote_prefill: "yes" },
      { do_remote_prefill: true, remote_block_ids: [1, -2] },
    ];
    for (const kv of bad) {
      const r = await post(`${decode.pod.url}/v1/completions`, {
        model: MODEL,
        prompt: "hello",
        kv_transfer_params: kv,
      });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error: { param: "kv_transfer_params" } });
    }
  });
});
