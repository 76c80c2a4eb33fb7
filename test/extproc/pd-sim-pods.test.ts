/**
 * kvroute's `pd` strategy against the simulator's pods (two independent implementations of the vLLM P/D fields):
 * through the real gRPC server, kvroute's prefill request reaches a simulated prefill pod, whose NIXL
 * `kv_transfer_params` come back in the decode body kvroute hands Envoy; that body, sent to the simulated decode
 * pod as Envoy would, makes it pull the prompt's KV instead of prefilling it.
 */
import type { Pod } from "../../src/cluster/pod";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { MODEL, post, startPod } from "../sim/helpers";
import type { TestPod } from "../sim/helpers";
import { CHAT_HEADERS, body, chatBody, headers, pod, setHeaders, startHarness } from "./harness";
import type { Harness } from "./harness";

function placed(p: Pod, role: "prefill" | "decode"): Pod {
  return { ...p, labels: { ...p.labels, "role-name": role, "roleset-name": "rs-sim" } };
}

const decodeBody = (r: ProcessingResponse | undefined): Record<string, unknown> => {
  const b = r?.request_body?.response?.body_mutation?.body;
  if (b === undefined) throw new Error("no body mutation in the decision");
  return JSON.parse(Buffer.from(b).toString("utf8")) as Record<string, unknown>;
};

describe("pd with simulated prefill and decode pods", () => {
  let prefill: TestPod;
  let decode: TestPod;
  let h: Harness;

  beforeAll(async () => {
    prefill = await startPod({ host: "127.0.0.1" });
    decode = await startPod({ host: "127.0.0.2" });
    h = await startHarness([
      placed(pod("sim-p", "127.0.0.1", [MODEL], true, prefill.pod.port), "prefill"),
      placed(pod("sim-d", "127.0.0.2", [MODEL], true, decode.pod.port), "decode"),
    ]);
  });
  afterAll(async () => {
    await h.close();
    await Promise.all([prefill.close(), decode.close()]);
  });

  it("the prefill pod's kv_transfer_params reach the decode pod, which pulls the prompt instead of computing it", async () => {
    const content = "the router sends each prompt to a warm cache ".repeat(10); // 450 characters
    const original = chatBody(MODEL, content, { max_tokens: 3 });
    const s = h.client.open();
    await s.exchange(headers({ ...CHAT_HEADERS, "routing-strategy": "pd", "x-request-id": "pd-sim-1" }));
    const [decision] = await s.exchange(body(original));
    s.end();

    // The prefill pod served one request of one output token (kvroute's hop), and answered with its parameters.
    expect(prefill.pod.engine.stats()).toMatchObject({ finished: 1, generationTokens: 1 });
    expect(setHeaders(decision)["target-pod"]).toBe(`127.0.0.2:${decode.pod.port}`);
    const forwarded = decodeBody(decision);
    const params = forwarded["kv_transfer_params"] as Record<string, unknown>;
    expect(params).toMatchObject({
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_engine_id: prefill.pod.engineId,
      remote_host: "127.0.0.1",
    });
    // The character tokenizer: one token per byte of the chat's text, in 16-token blocks.
    const promptTokens = Buffer.byteLength(content);
    expect(params["remote_block_ids"]).toHaveLength(Math.ceil(promptTokens / 16));
    expect({ ...forwarded, kv_transfer_params: undefined }).toEqual({
      ...(JSON.parse(original) as object),
      kv_transfer_params: undefined,
    });

    // Envoy sends the mutated body to the decode pod: it pulls every full block but the one with the last token.
    const pulled = Math.floor((promptTokens - 1) / 16) * 16;
    const r = await post(`${decode.pod.url}/v1/chat/completions`, forwarded);
    expect(r.status).toBe(200);
    expect(r.json["usage"]).toMatchObject({
      prompt_tokens: promptTokens,
      completion_tokens: 3,
      prompt_tokens_details: { cached_tokens: pulled },
    });
    expect(decode.pod.engine.stats()).toMatchObject({ kvTransfers: 1, kvTransferredTokens: pulled });
  });
});
