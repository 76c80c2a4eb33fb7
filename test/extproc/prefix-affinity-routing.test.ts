/**
 * `prefix-affinity` through a real kvroute over gRPC: a prompt stays on the pod that holds it while that pod's
 * look-ahead prefill backlog (uncached prompt tokens in flight + this prompt's uncached tokens) is under the gate
 * τ = the least look-ahead backlog + min(prompt tokens, prefill throughput × TTFT penalty), comes back under it
 * when a request there ends, and leaves for the least backlog once it is over. Here throughput × penalty is
 * `m1=1` token/s × 40 s = 40 tokens, below the 64-token prompt, so the flags bind: τ = pod-b's 64 + 40 = 104
 * (character tokenizer: one token per byte); at 1 token/s the backlog drains by about a token per second of the
 * test, far inside the margins below. Cold work is put on pod-a with the endpoint subset hint, as a gateway's subset would.
 */
import type { Metadata } from "../../src/extproc/messages";
import type { ExtProcStream, Harness } from "./harness";
import { body, headers, pod, responseBody, responseHeaders, setHeaders, startHarness } from "./harness";
import { subsetHint } from "./request-phase";

const A = pod("pod-a", "127.0.0.21", ["m1"]);
const B = pod("pod-b", "127.0.0.22", ["m1"]);
/** 64 tokens: 4 blocks of 16. */
const P = "p".repeat(32) + "q".repeat(32);

/** Route a completions request for `prompt`; the stream stays open, so its pick (and backlog) stays in flight. */
async function route(h: Harness, prompt: string, hint?: Metadata, stream = false) {
  const s = h.client.open();
  const msg = headers({ ":method": "POST", ":path": "/v1/completions", "content-type": "application/json" });
  await s.exchange(hint === undefined ? msg : { ...msg, metadata_context: hint });
  const request = { model: "m1", prompt, max_tokens: 8, stream };
  const [decision] = await s.exchange(body(JSON.stringify(request)));
  return { stream: s, target: setHeaders(decision)["target-pod"] };
}

/** End a routed request as Envoy does when the upstream answers without a body: its pick is released. */
async function finish(stream: ExtProcStream): Promise<void> {
  await stream.exchange(responseHeaders(200, { "content-type": "application/json" }, true));
  stream.end();
  await stream.status;
}

/** A kvroute of its own for the enclosing `describe` (1 token/s × 40 s); its open streams are cancelled after. */
function kvroute(): { harness: () => Harness; readonly open: ExtProcStream[] } {
  let h: Harness | undefined;
  const open: ExtProcStream[] = [];
  beforeAll(async () => {
    h = await startHarness(
      [A, B],
      [
        "--routing-algorithm",
        "prefix-affinity",
        "--prefix-affinity-prefill-throughput",
        "m1=1",
        "--prefix-affinity-ttft-penalty-ms",
        "40000",
      ],
    );
  });
  afterAll(async () => {
    for (const s of open) s.cancel();
    await h?.close();
  });
  return {
    harness: () => {
      if (h === undefined) throw new Error("kvroute not started");
      return h;
    },
    open,
  };
}

describe("prefix-affinity end to end", () => {
  const k = kvroute();

  it("sticks to the pod holding the prompt under the gate, again after a release, and leaves when over it", async () => {
    const h = k.harness();
    const { open } = k;
    const onA = subsetHint([A.address]);
    // pod-a prefills P (64 uncached tokens in flight) and a cold 16-token prompt: 80 in flight there.
    const first = await route(h, P, onA);
    expect(first.target).toBe(A.address);
    const cold = await route(h, "c".repeat(16), onA);
    expect(cold.target).toBe(A.address);
    open.push(first.stream, cold.stream);
    // P again: pod-a's look-ahead 80 + 0 ≤ 104, so it stays, although pod-b's (0 + 64) is less.
    const sticky = await route(h, P);
    expect(sticky.target).toBe(A.address);
    open.push(sticky.stream);
    // 48 more cold tokens on pod-a: 128 > 104. When that request ends its 48 are given back: 80, sticky again.
    const heavy = await route(h, "h".repeat(48), onA);
    expect(heavy.target).toBe(A.address);
    await finish(heavy.stream);
    const again = await route(h, P);
    expect(again.target).toBe(A.address);
    open.push(again.stream);
    // Over the gate once more (128 > 104; had the release counted twice it would be 80; without the flags'
    // cap τ would be 64 + 64 = 128): P goes to the least look-ahead backlog, pod-b, and recomputes there.
    const heavier = await route(h, "k".repeat(48), onA);
    expect(heavier.target).toBe(A.address);
    open.push(heavier.stream);
    const left = await route(h, P);
    expect(left.target).toBe(B.address);
    open.push(left.stream);
  });
});

describe("prefix-affinity end to end: the first token", () => {
  const k = kvroute();

  it("gives a streamed request's backlog back at its first token, while the request still decodes", async () => {
    const h = k.harness();
    const { open } = k;
    const onA = subsetHint([A.address]);
    // As above: P and a cold 16-token prompt on pod-a (80 in flight), then a streamed 48-token cold prompt: 128 > 104.
    const first = await route(h, P, onA);
    const cold = await route(h, "c".repeat(16), onA);
    const heavy = await route(h, "h".repeat(48), onA, true);
    expect([first.target, cold.target, heavy.target]).toEqual([A.address, A.address, A.address]);
    open.push(first.stream, cold.stream, heavy.stream);
    // Response headers alone say nothing about the prefill (vLLM sends them before it): still over the gate.
    await heavy.stream.exchange(responseHeaders(200, { "content-type": "text/event-stream" }));
    const over = await route(h, P);
    expect(over.target).toBe(B.address);
    open.push(over.stream);
    // The first data event: pod-a has prefilled the 48 tokens and every prompt queued before them, so nothing is
    // left there to wait behind (look-ahead 0 + 0) and P stays, with all three requests still in flight.
    await heavy.stream.exchange(responseBody('data: {"choices":[{"text":"x"}]}\n\n', false));
    const back = await route(h, P);
    expect(back.target).toBe(A.address);
    open.push(back.stream);
  });
});
