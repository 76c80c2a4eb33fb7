/**
 * Real loopback model-server stand-ins that can be killed and restarted on the same port: each answers
 * `GET /metrics` with a small vLLM exposition and `POST /v1/chat/completions` with a JSON completion. Killing
 * closes the listener and every open connection, so a connect is refused (ECONNREFUSED) as with a crashed pod.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One pod. */
export interface KillablePod {
  readonly port: number;
  /** Completions answered since start (not counting scrapes). */
  readonly served: number;
  readonly alive: boolean;
  /** Stop listening and cut open connections; resolves once the port refuses connections. */
  kill(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
}

const METRICS_BODY = [
  "# TYPE vllm:num_requests_running gauge",
  'vllm:num_requests_running{model_name="m1"} 0',
  "# TYPE vllm:num_requests_waiting gauge",
  'vllm:num_requests_waiting{model_name="m1"} 0',
  "# TYPE vllm:gpu_cache_usage_perc gauge",
  'vllm:gpu_cache_usage_perc{model_name="m1"} 0.1',
  "",
].join("\n");

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Start one pod on a free loopback port. */
export async function startKillablePod(): Promise<KillablePod> {
  let served = 0;
  let alive = true;
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(METRICS_BODY);
      return;
    }
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      served += 1;
      const body = JSON.stringify({
        id: "cmpl-1",
        object: "chat.completion",
        model: "m1",
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 1000;
  const port = await listen(server, 0);
  return {
    port,
    get served() {
      return served;
    },
    get alive() {
      return alive;
    },
    kill() {
      alive = false;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async restart() {
      await listen(server, port);
      alive = true;
    },
  };
}

/** What Envoy's HTTP request to a pod came back with. */
export type UpstreamResult =
  | { readonly t: "response"; readonly status: number; readonly body: string }
  | { readonly t: "connect-failure"; readonly code: string };

/** POST `body` to `address` (`ip:port`) on a fresh connection, as Envoy's router would forward the request. */
export function forward(address: string, path: string, body: string): Promise<UpstreamResult> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        path,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            t: "response",
            status: res.statusCode ?? 0,
            body: Buffer.concat(parts).toString("utf8"),
          }),
        );
        res.on("error", (e: NodeJS.ErrnoException) =>
          resolve({ t: "connect-failure", code: e.code ?? "error" }),
        );
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ t: "connect-failure", code: e.code ?? "error" }));
    req.end(body);
  });
}
