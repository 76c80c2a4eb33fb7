/**
 * Test harness: a real kvroute server on loopback port 0 with an in-memory fleet, and a gRPC client speaking
 * ext_proc through kvroute's own proto definition (wire compatibility with Envoy's protos is proven separately in
 * wire-compat.test.ts).
 */
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { createClusterStore } from "../../src/cluster/cluster-state";
import type { ClusterStore } from "../../src/cluster/cluster-state";
import { formatAddress } from "../../src/cluster/pod";
import type { Pod } from "../../src/cluster/pod";
import { loadConfig } from "../../src/config";
import type { Config } from "../../src/config";
import { loadExtProcDefinition } from "../../src/extproc/proto";
import type { ProcessingRequest, ProcessingResponse } from "../../src/extproc/messages";
import { createLogger } from "../../src/observability/logger";
import type { TraceBatchOptions } from "../../src/observability";
import { createServer } from "../../src/server";
import type { KvrouteServer } from "../../src/server";

/** A pod for tests. */
export function pod(name: string, ip: string, models: readonly string[], ready = true, port = 8000): Pod {
  return {
    key: `default/${name}`,
    name,
    namespace: "default",
    ip,
    port,
    address: formatAddress(ip, port),
    models: [...models].sort(),
    ready,
    engine: "vllm",
    labels: { "model.aibrix.ai/name": models[0] ?? "" },
    metricsPort: port,
    adapters: [],
  };
}

/** Log lines captured from the server. */
export interface CapturedLog {
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first line (already written or future) for which `match` holds. */
  waitFor(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function captureLog(): { stream: Writable; log: CapturedLog } {
  const lines: Record<string, unknown>[] = [];
  let waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (!text) continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        waiters = waiters.filter((w) => {
          if (!w.match(line)) return true;
          w.resolve(line);
          return false;
        });
      }
      cb();
    },
  });
  return {
    stream,
    log: {
      lines,
      waitFor(match) {
        const found = lines.find(match);
        if (found) return Promise.resolve(found);
        return new Promise((resolve) => waiters.push({ match, resolve }));
      },
    },
  };
}

/** A running server and its fleet. */
export interface Harness {
  readonly server: KvrouteServer;
  readonly cluster: ClusterStore;
  readonly client: ExtProcClient;
  readonly log: CapturedLog;
  readonly config: Config;
  close(): Promise<void>;
}

/** Start kvroute with `pods` (cluster loaded) and extra flags. */
export async function startHarness(
  pods: readonly Pod[] | undefined,
  flags: readonly string[] = [],
  env: Record<string, string> = {},
  options: {
    scrapeMetrics?: boolean;
    onClosing?: (piece: string) => void;
    healthNow?: () => number;
    speculativeNow?: () => number;
    usageWallNow?: () => number;
    usageRedisTimeoutMs?: number;
    tlsRefreshIntervalMs?: number;
    traceBatch?: TraceBatchOptions;
    /** Node's process metrics on /metrics (off by default: they cost CPU at every scrape). */
    processMetrics?: boolean;
  } = {},
): Promise<Harness> {
  const loaded = loadConfig(
    [
      "--standalone",
      "--endpoints-config",
      "unused.yaml",
      "--grpc-bind-address",
      "127.0.0.1:0",
      "--http-bind-address",
      "127.0.0.1:0",
      "--log-level",
      "debug",
      ...flags,
    ],
    env,
  );
  if ("help" in loaded) throw new Error("unexpected help");
  const cluster = createClusterStore();
  if (pods) cluster.replace(pods);
  const { stream, log } = captureLog();
  const server = await createServer({
    config: loaded,
    cluster,
    log: createLogger("debug", stream),
    processMetrics: options.processMetrics ?? false,
    // Test pods live at unroutable 10.x addresses: nothing to scrape unless a test serves real metrics.
    scrapeMetrics: options.scrapeMetrics ?? false,
    ...(options.onClosing ? { onClosing: options.onClosing } : {}),
    ...(options.healthNow ? { healthNow: options.healthNow } : {}),
    ...(options.speculativeNow ? { speculativeNow: options.speculativeNow } : {}),
    ...(options.usageWallNow ? { usageWallNow: options.usageWallNow } : {}),
    ...(options.usageRedisTimeoutMs === undefined
      ? {}
      : { usageRedisTimeoutMs: options.usageRedisTimeoutMs }),
    ...(options.traceBatch ? { traceBatch: options.traceBatch } : {}),
    ...(options.tlsRefreshIntervalMs === undefined
      ? {}
      : { tlsRefreshIntervalMs: options.tlsRefreshIntervalMs }),
  });
  const client = new ExtProcClient(`127.0.0.1:${server.grpcPort}`);
  return {
    server,
    cluster,
    client,
    log,
    config: loaded,
    async close() {
      client.close();
      await server.drain(1000);
    },
  };
}

type Duplex = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

const STATUS_NUMBERS: ReadonlyMap<string, number> = (() => {
  const def = loadExtProcDefinition().packageDefinition["envoy.type.v3.StatusCode"] as unknown as {
    type: { value: { name: string; number: number }[] };
  };
  return new Map(def.type.value.map((v) => [v.name, v.number]));
})();

/** Drop proto-loader's virtual oneof key and turn the HTTP status enum name back into its number. */
function normalize(r: ProcessingResponse): ProcessingResponse {
  const out = { ...r } as ProcessingResponse & { response?: unknown };
  delete out.response;
  const ir = out.immediate_response;
  if (ir && typeof ir.status.code === "string") {
    out.immediate_response = { ...ir, status: { code: STATUS_NUMBERS.get(ir.status.code) ?? -1 } };
  }
  return out;
}

/** One ext_proc stream seen from Envoy's side. */
export class ExtProcStream {
  private readonly queue: ProcessingResponse[] = [];
  private waiting: ((r: ProcessingResponse | undefined) => void)[] = [];
  private ended = false;
  readonly status: Promise<grpc.StatusObject>;

  constructor(readonly call: Duplex) {
    call.on("data", (raw: ProcessingResponse) => {
      const r = normalize(raw);
      const w = this.waiting.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    call.on("error", () => undefined);
    this.status = new Promise((resolve) => call.on("status", resolve));
    const finish = (): void => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    };
    call.on("end", finish);
    call.on("close", finish);
    void this.status.then(finish);
  }

  send(msg: ProcessingRequest): this {
    this.call.write(msg);
    return this;
  }

  /** The next reply, or undefined when the server ended the stream. */
  next(): Promise<ProcessingResponse | undefined> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Send and await exactly `n` replies. */
  async exchange(msg: ProcessingRequest, n = 1): Promise<ProcessingResponse[]> {
    this.send(msg);
    const out: ProcessingResponse[] = [];
    for (let i = 0; i < n; i++) {
      const r = await this.next();
      if (!r) throw new Error(`stream ended after ${i} of ${n} replies`);
      out.push(r);
    }
    return out;
  }

  /** Replies received but not yet taken. */
  pending(): number {
    return this.queue.length;
  }

  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** Minimal ext_proc client. */
export class ExtProcClient {
  private readonly client: grpc.Client;
  private readonly method: grpc.MethodDefinition<ProcessingRequest, ProcessingResponse>;

  /** Plaintext unless `credentials` (and `options`, e.g. `grpc.ssl_target_name_override`) say otherwise. */
  constructor(
    address: string,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    options: grpc.ChannelOptions = {},
  ) {
    const { processService } = loadExtProcDefinition();
    this.method = processService["Process"] as unknown as grpc.MethodDefinition<
      ProcessingRequest,
      ProcessingResponse
    >;
    this.client = new grpc.Client(address, credentials, options);
  }

  open(): ExtProcStream {
    const call = this.client.makeBidiStreamRequest(
      this.method.path,
      this.method.requestSerialize,
      this.method.responseDeserialize,
    );
    return new ExtProcStream(call);
  }

  close(): void {
    this.client.close();
  }
}

/** Header map helper: values as raw_value, as Envoy sends them. */
export function headers(h: Record<string, string>, endOfStream = false): ProcessingRequest {
  return {
    request_headers: {
      headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) },
      end_of_stream: endOfStream,
    },
  };
}

export function body(content: string | Buffer, endOfStream = true): ProcessingRequest {
  return {
    request_body: {
      body: Buffer.isBuffer(content) ? content : Buffer.from(content),
      end_of_stream: endOfStream,
    },
  };
}

export function responseHeaders(
  status: number,
  extra: Record<string, string> = {},
  endOfStream = false,
): ProcessingRequest {
  const h = { ":status": String(status), ...extra };
  return {
    response_headers: {
      headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) },
      end_of_stream: endOfStream,
    },
  };
}

export function responseBody(content: string, endOfStream: boolean): ProcessingRequest {
  return { response_body: { body: Buffer.from(content), end_of_stream: endOfStream } };
}

/** Header value set by a reply phase, decoded. */
export function setHeaders(r: ProcessingResponse | undefined): Record<string, string> {
  const phase = r?.request_headers ?? r?.request_body ?? r?.response_headers ?? r?.response_body;
  const out: Record<string, string> = {};
  for (const o of phase?.response?.header_mutation?.set_headers ?? []) {
    out[o.header.key] = Buffer.from(o.header.raw_value ?? []).toString("utf8");
  }
  return out;
}

/** An immediate response's status, headers (decoded) and JSON body (the OpenAI envelope); undefined when none. */
export function immediateReply(r: ProcessingResponse | undefined): {
  status: number | undefined;
  headers: Record<string, string>;
  body: unknown;
} {
  const ir = r?.immediate_response;
  const hs: Record<string, string> = {};
  for (const o of ir?.headers?.set_headers ?? [])
    hs[o.header.key] = Buffer.from(o.header.raw_value ?? []).toString("utf8");
  return {
    status: ir?.status.code,
    headers: hs,
    body: ir?.body === undefined ? undefined : (JSON.parse(Buffer.from(ir.body).toString("utf8")) as unknown),
  };
}

export const CHAT_HEADERS = {
  ":method": "POST",
  ":path": "/v1/chat/completions",
  "content-type": "application/json",
};

export function chatBody(model = "m1", content = "hello", extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: "user", content }], ...extra });
}
