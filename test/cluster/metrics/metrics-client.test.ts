/**
 * The scraper's HTTP client against real loopback HTTP servers: connection reuse, servers that close idle or every
 * connection, chunked bodies, a pod that moves, and close().
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { GetOutcome } from "../../../src/cluster/metrics/http-get";
import { createMetricsClient } from "../../../src/cluster/metrics/metrics-client";
import type { MetricsClient } from "../../../src/cluster/metrics/metrics-client";

interface Server {
  readonly port: number;
  connections: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
const clients: MetricsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: http.RequestListener, keepAliveTimeoutMs = 5000): Promise<Server> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  const s: Server = {
    port: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on("connection", () => (s.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (s as { port: number }).port = (server.address() as AddressInfo).port;
  servers.push(s);
  return s;
}

function client(): MetricsClient {
  const c = createMetricsClient();
  clients.push(c);
  return c;
}

const LIMITS = { timeoutMs: 5000, maxBodyBytes: 1 << 20 };
const get = (c: MetricsClient, key: string, port: number, path = "/metrics"): Promise<GetOutcome> =>
  new Promise((resolve) => c.get(key, { host: "127.0.0.1", port, path }, LIMITS, resolve));

/** A body of `n` lines, so it spans several TCP reads. */
const bigBody = (n: number): string =>
  Array.from({ length: n }, (_, i) => `vllm:x{i="${i}"} ${i}\n`).join("");

describe("createMetricsClient", () => {
  it("reuses one connection per key and reads each body whole", async () => {
    const text = bigBody(3000);
    const s = await serve((_req, res) => res.end(text));
    const c = client();
    for (let i = 0; i < 5; i++)
      expect(await get(c, "a", s.port)).toEqual({ t: "body", text, bytes: text.length });
    expect(s.connections).toBe(1);
  });

  it("reads a chunked body (no content-length)", async () => {
    const s = await serve((_req, res) => {
      res.write("vllm:a 1\n");
      setImmediate(() => res.end("vllm:b 2\n"));
    });
    expect(await get(client(), "a", s.port)).toEqual({ t: "body", text: "vllm:a 1\nvllm:b 2\n", bytes: 18 });
  });

  it("opens a new connection after a server that closes every one", async () => {
    const s = await serve((_req, res) => {
      res.setHeader("connection", "close");
      res.end("vllm:a 1\n");
    });
    const c = client();
    for (let i = 0; i < 3; i++) expect(await get(c, "a", s.port)).toMatchObject({ t: "body" });
    expect(s.connections).toBe(3);
  });

  it("stays ok when the server closes idle connections between requests", async () => {
    const s = await serve((_req, res) => res.end("vllm:a 1\n"), 1);
    const c = client();
    for (let i = 0; i < 10; i++) {
      expect(await get(c, "a", s.port)).toMatchObject({ t: "body" });
      await new Promise((resolve) => setTimeout(resolve, i % 3)); // around the server's 1 ms idle timeout
    }
  });

  it("dials the new address when a key's pod moves", async () => {
    const one = await serve((_req, res) => res.end("one 1\n"));
    const two = await serve((_req, res) => res.end("two 2\n"));
    const c = client();
    expect(await get(c, "a", one.port)).toMatchObject({ text: "one 1\n" });
    expect(await get(c, "a", two.port)).toMatchObject({ text: "two 2\n" });
    expect([one.connections, two.connections]).toEqual([1, 1]);
  });

  it("cancels a request at once, and close() cancels what is in flight", async () => {
    const s = await serve(() => undefined); // never answers
    const c = client();
    const outcomes: GetOutcome[] = [];
    const h = c.get("a", { host: "127.0.0.1", port: s.port, path: "/" }, LIMITS, (o) => outcomes.push(o));
    h.cancel();
    h.cancel();
    c.get("b", { host: "127.0.0.1", port: s.port, path: "/" }, LIMITS, (o) => outcomes.push(o));
    c.close();
    expect(outcomes).toEqual([{ t: "cancelled" }, { t: "cancelled" }]);
  });
});
