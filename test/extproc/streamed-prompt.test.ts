/**
 * Streamed prompt hashing end to end, over real gRPC: a body sent in chunks (FULL_DUPLEX_STREAMED, or STREAMED
 * with the headers reply held) has its prompt hashed as it arrives, and routes exactly as the same body sent
 * BUFFERED: the `prefix-cache` decision finds the blocks the other one recorded, and recording them again adds no
 * block (identical keys). The outcome is counted in `kvroute_prompt_streamed_total`.
 */
import type { ProcessingRequest } from "../../src/extproc/messages";
import { body, headers, pod, setHeaders, startHarness } from "./harness";
import { debugPods, finishedLine, metricValue } from "./harness-probes";
import type { Harness } from "./harness";

// Header values only: the harness neither scrapes nor dials its pods.
const PODS = [
  pod("p1", "127.0.0.11", ["m1"]),
  pod("p2", "127.0.0.12", ["m1"]),
  pod("p3", "127.0.0.13", ["m1"]),
];

type Mode = "BUFFERED" | "STREAMED" | "FULL_DUPLEX_STREAMED";

/** A long chat body (past the inline tokenizing bound: BUFFERED goes to a worker) with escapes and non-ASCII. */
function chatText(seed: string): string {
  const user = Array.from({ length: 900 }, (_, i) => `${seed} ligne ${i}: café "naïve" 😀 中文\n`).join("");
  return JSON.stringify({
    model: "m1",
    messages: [
      { role: "system", content: `${seed}: you are helpful.` },
      { role: "user", content: user },
    ],
  })
    .replace(/é/g, "\\u00e9")
    .replace(/😀/g, "\\ud83d\\ude00");
}

interface Routed {
  readonly target: string;
  readonly line: Record<string, unknown>;
}

/** Route one body in `mode` (chunks of 997 bytes: cuts fall inside escapes and multi-byte characters). */
async function route(h: Harness, path: string, text: string, mode: Mode): Promise<Routed> {
  const id = `r${Math.random().toString(36).slice(2)}`;
  const s = h.client.open();
  const head = headers({
    ":method": "POST",
    ":path": path,
    "routing-strategy": "prefix-cache",
    "x-request-id": id,
  });
  const bytes = Buffer.from(text);
  let decision;
  if (mode === "BUFFERED") {
    await s.exchange(head);
    [decision] = await s.exchange(body(bytes, true));
  } else {
    const protocol: ProcessingRequest["protocol_config"] =
      mode === "STREAMED"
        ? { request_body_mode: "STREAMED", send_body_without_waiting_for_header_response: true }
        : { request_body_mode: "FULL_DUPLEX_STREAMED" };
    s.send({ protocol_config: protocol, ...head });
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 997) chunks.push(bytes.subarray(at, at + 997));
    for (const c of chunks.slice(0, -1)) s.send(body(c, false));
    const replies = mode === "STREAMED" ? chunks.length + 1 : 2;
    [decision] = await s.exchange(body(chunks[chunks.length - 1] ?? Buffer.alloc(0), true), replies);
  }
  const target = setHeaders(decision)["target-pod"] ?? "";
  s.cancel();
  const line = await finishedLine(h, { requestId: id });
  return { target, line };
}

async function approximateBlocks(h: Harness): Promise<Record<string, number>> {
  const pods = await debugPods<{ address: string; prefix: { approximateBlocks: number } }>(h);
  return Object.fromEntries(pods.map((p) => [p.address, p.prefix.approximateBlocks]));
}

async function streamedCount(h: Harness, outcome: string): Promise<number> {
  return metricValue(h, "kvroute_prompt_streamed_total", { outcome });
}

describe("a streamed body's prompt, hashed as it arrives", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([
    ["FULL_DUPLEX_STREAMED", "BUFFERED"],
    ["BUFFERED", "STREAMED"],
  ] as const)("%s then %s: the second finds all the first's blocks, and adds none", async (first, second) => {
    const text = chatText(`${first}-${second}`);
    const usedBefore = await streamedCount(h, "used");
    const a = await route(h, "/v1/chat/completions", text, first);
    expect(a.line["fallbackReason"]).toBe("no-prefix-match");
    const learnt = await approximateBlocks(h);
    expect(learnt[a.target]).toBeGreaterThan(0);

    const b = await route(h, "/v1/chat/completions", text, second);
    expect(b.target).toBe(a.target);
    expect(b.line["fallbackReason"]).toBeUndefined();
    expect(await approximateBlocks(h)).toEqual(learnt);
    expect(await streamedCount(h, "used")).toBe(usedBefore + 1);
  });

  it("token-id completions prompts too", async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => (i * 7919) % 150_000);
    const text = JSON.stringify({ model: "m1", prompt: ids, max_tokens: 5 });
    const usedBefore = await streamedCount(h, "used");
    const a = await route(h, "/v1/completions", text, "STREAMED");
    const learnt = await approximateBlocks(h);
    const b = await route(h, "/v1/completions", text, "BUFFERED");
    expect([b.target, b.line["fallbackReason"]]).toEqual([a.target, undefined]);
    expect(await approximateBlocks(h)).toEqual(learnt);
    expect(await streamedCount(h, "used")).toBe(usedBefore + 1);
  });

  it("a shape it does not follow (content parts) is counted as abandoned and routed the ordinary way", async () => {
    const parts = [{ type: "text", text: chatText("parts") }];
    const text = JSON.stringify({ model: "m1", messages: [{ role: "user", content: parts }] });
    const abandonedBefore = await streamedCount(h, "abandoned");
    const a = await route(h, "/v1/chat/completions", text, "FULL_DUPLEX_STREAMED");
    const learnt = await approximateBlocks(h);
    const b = await route(h, "/v1/chat/completions", text, "BUFFERED");
    expect([b.target, b.line["fallbackReason"]]).toEqual([a.target, undefined]);
    expect(await approximateBlocks(h)).toEqual(learnt);
    expect(await streamedCount(h, "abandoned")).toBe(abandonedBefore + 1);
  });
});

describe("with --prefix-streamed-prompt=false", () => {
  it("a chunked body's prompt is prepared after the body, the ordinary way, and routes the same", async () => {
    const h = await startHarness(PODS, ["--prefix-streamed-prompt=false"]);
    try {
      const text = chatText("off");
      const a = await route(h, "/v1/chat/completions", text, "FULL_DUPLEX_STREAMED");
      const learnt = await approximateBlocks(h);
      expect(learnt[a.target]).toBeGreaterThan(0);
      const b = await route(h, "/v1/chat/completions", text, "BUFFERED");
      expect([b.target, b.line["fallbackReason"]]).toEqual([a.target, undefined]);
      expect(await approximateBlocks(h)).toEqual(learnt);
      for (const outcome of ["used", "abandoned", "mismatch", "block-sizes"])
        expect(await streamedCount(h, outcome)).toBe(0);
    } finally {
      await h.close();
    }
  });
});
