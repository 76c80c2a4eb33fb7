/**
 * A loopback HTTP server standing in for a prefill pod: it records every request (path, headers, JSON body) and
 * answers as its `mode` says — `ok` (200 with `kv_transfer_params`, as vLLM's prefill answers), `fail` (500), or
 * `hang` (never answers). `closed` resolves when a hung request's connection closes (the hop gave up on it).
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the pod received. */
export interface SeenRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** What vLLM's prefill answers in `kv_transfer_params` (the decode request must carry it). */
export const KV_PARAMS = {
  do_remote_prefill: true,
  do_remote_decode: false,
  remote_engine_id: "engine-7",
  remote_block_ids: [1, 2, 3],
  remote_port: 5600,
};

/** A running fake prefill pod. */
export interface FakePrefillPod {
  readonly port: number;
  mode: "ok" | "fail" | "hang";
  /** Called with each request before it is answered (a test changing the fleet while the hop is in flight). */
  onRequest: (() => void) | undefined;
  readonly seen: SeenRequest[];
  /** Hung requests whose connection has closed so far. */
  readonly closedCount: number;
  /** Resolves once `closedCount` reaches `n`. */
  closed(n: number): Promise<void>;
  /** Resolves once `n` requests were received. */
  received(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** Start a fake prefill pod on 127.0.0.1 (an ephemeral port). */
export async function startFakePrefillPod(): Promise<FakePrefillPod> {
  const seen: SeenRequest[] = [];
  let closedCount = 0;
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const until = (cond: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => (cond() ? resolve() : void waiters.push(check));
      check();
    });
  const pod: FakePrefillPod = {
    port: 0,
    mode: "ok",
    onRequest: undefined,
    seen,
    get closedCount() {
      return closedCount;
    },
    closed: (n) => until(() => closedCount >= n),
    received: (n) => until(() => seen.length >= n),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      seen.push({ path: req.url ?? "", headers: req.headers, body });
      pod.onRequest?.();
      const mode = pod.mode;
      if (mode === "hang") {
        res.on("close", () => {
          closedCount++;
          wake();
        });
      } else if (mode === "fail") {
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
      } else {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ id: "cmpl-1", choices: [{ text: "x" }], kv_transfer_params: KV_PARAMS }));
      }
      wake();
    });
  });
  // Hung requests would keep `close` waiting: end their sockets with the server.
  const close = server.close.bind(server);
  server.close = (cb) => {
    server.closeAllConnections();
    return close(cb);
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (pod as { port: number }).port = (server.address() as AddressInfo).port;
  return pod;
}
