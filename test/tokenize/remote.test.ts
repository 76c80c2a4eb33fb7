/**
 * The remote (vLLM `/tokenize`) tokenizer against a real local HTTP server.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRemoteTokenizer } from "../../src/tokenize/remote";
import { createTokenizerRegistry } from "../../src/tokenize/registry";

type Handler = (body: Record<string, unknown>, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
const bodies: Record<string, unknown>[] = [];
const paths: string[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = "";
    req.on("data", (chunk: Buffer) => (data += chunk.toString("utf8")));
    req.on("end", () => {
      paths.push(`${req.method ?? ""} ${req.url ?? ""}`);
      const body = JSON.parse(data) as Record<string, unknown>;
      bodies.push(body);
      handler(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  bodies.length = 0;
  paths.length = 0;
  handler = (_body, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ tokens: [1, 2, 3], count: 3, max_model_len: 4096 }));
  };
});

describe("remote tokenizer", () => {
  it("posts the completion form for text", async () => {
    const tok = createRemoteTokenizer({ model: "m1", endpointFor: () => base });
    expect(Array.from(await tok.encode("hello"))).toEqual([1, 2, 3]);
    expect(paths).toEqual(["POST /tokenize"]);
    expect(bodies).toEqual([{ model: "m1", prompt: "hello", add_special_tokens: false }]);
  });

  it("posts the chat form for encodeChat", async () => {
    const tok = createRemoteTokenizer({ model: "m1", endpointFor: () => `${base}/` });
    await tok.encodeChat?.([{ role: "user", content: "hi" }]);
    expect(bodies).toEqual([
      {
        model: "m1",
        messages: [{ role: "user", content: "hi" }],
        add_generation_prompt: true,
        add_special_tokens: false,
      },
    ]);
  });

  it("maps a 500 to http-500 without prompt text", async () => {
    handler = (_body, res) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: { message: "boom", code: 500 } }));
    };
    const tok = createRemoteTokenizer({ model: "m1", endpointFor: () => base });
    const err = await tok.encode("secret prompt").catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: "http-500" });
    expect(String((err as Error).message)).not.toContain("secret");
  });

  it("times out", async () => {
    handler = () => undefined; // never answers
    const tok = createRemoteTokenizer({ model: "m1", endpointFor: () => base, timeoutMs: 100 });
    await expect(tok.encode("x")).rejects.toMatchObject({ reason: "timeout" });
  });

  it("rejects malformed responses, missing endpoints and refused connections", async () => {
    handler = (_body, res) => res.end(JSON.stringify({ tokens: ["a"] }));
    const tok = createRemoteTokenizer({ model: "m1", endpointFor: () => base });
    await expect(tok.encode("x")).rejects.toMatchObject({ reason: "bad-response" });
    const none = createRemoteTokenizer({ model: "m1", endpointFor: () => undefined });
    await expect(none.encode("x")).rejects.toMatchObject({ reason: "no-endpoint" });
    const refused = createRemoteTokenizer({ model: "m1", endpointFor: () => "http://127.0.0.1:1" });
    await expect(refused.encode("x")).rejects.toMatchObject({ reason: "network" });
  });

  it("bounds concurrency and the wait queue", async () => {
    const pending: ServerResponse[] = [];
    handler = (_body, res) => pending.push(res);
    const tok = createRemoteTokenizer({
      model: "m1",
      endpointFor: () => base,
      maxConcurrent: 1,
      maxQueue: 1,
    });
    const a = tok.encode("a");
    const controller = new AbortController();
    const b = tok.encode("b", controller.signal);
    await expect(tok.encode("c")).rejects.toMatchObject({ reason: "queue-full" });
    controller.abort();
    await expect(b).rejects.toMatchObject({ reason: "aborted" });
    while (pending.length === 0) await new Promise((r) => setTimeout(r, 5));
    pending[0]?.end(JSON.stringify({ tokens: [7], count: 1, max_model_len: 10 }));
    expect(Array.from(await a)).toEqual([7]);
    expect(bodies).toHaveLength(1);
  });

  it("takes the endpoint from the registry's remoteEndpointFor or the model's config", async () => {
    const seen: string[] = [];
    const registry = createTokenizerRegistry({
      defaultSpec: "remote",
      perModel: { fixed: { type: "remote", endpoint: base } },
      workers: 0,
      remoteEndpointFor: (model) => {
        seen.push(model);
        return base;
      },
    });
    await registry.forModel("dyn").encode("x");
    await registry.forModel("fixed").encode("y");
    expect(seen).toEqual(["dyn"]);
    expect(bodies.map((b) => b["model"])).toEqual(["dyn", "fixed"]);
    await registry.close();
  });
});
