/**
 * One simulated vLLM pod: an HTTP server speaking what kvroute consumes from vLLM (OpenAI API, `/tokenize`,
 * `/v1/models`, `/metrics`, `/reset_prefix_cache`, `/health`), a simulated engine, and a ZeroMQ KV-event
 * publisher (PUB + ROUTER replay) fed by the engine's events, one batch per engine step as vLLM publishes.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createSimEngine } from "../engine/engine";
import type { SimClock, SimEngine, SimEngineParams } from "../engine/types";
import { handleGenerate } from "./generate";
import type { GenerateContext } from "./generate";
import { BodyTooLargeError, readBody, sendError, sendJson } from "./http-util";
import { KvEventPublisher } from "./kv-publisher";
import { encodeKvEventBatch, wireEvents } from "./kv-wire";
import { PodMetrics } from "./metrics";
import { SimRequestError, chatOf, jsonObject } from "./request";
import { promptTokens } from "./tokenizer";
import type { SimTokenizer } from "./tokenizer";

/** Wall-clock timers for a live pod (the engine also runs on a virtual clock in tests and benchmarks). */
export const realClock: SimClock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Options of {@link PodServer.start}. */
export interface PodServerOptions {
  /** Served model name (`--served-model-name`). */
  readonly model: string;
  readonly params: SimEngineParams;
  /** The simulator's tokenizer of the base model and its adapters (`tokenizer.ts`). */
  readonly tokenizer: SimTokenizer;
  /** LoRA adapters served on top of the base model (listed by `/v1/models`, accepted in `model`). */
  readonly loras?: readonly string[];
  /** Host to bind everything on (default 127.0.0.1). */
  readonly host?: string;
  /** Ports; 0 or absent picks a free one. */
  readonly port?: number;
  readonly pubPort?: number;
  readonly replayPort?: number;
  /** KV-event topic (default `kv-events`). */
  readonly topic?: string;
  /** Replay buffer, in batches (default 10 000, as vLLM). */
  readonly bufferSteps?: number;
  readonly clock?: SimClock;
  /** `max_model_len` (default: the preset's, else 32768). */
  readonly maxModelLen?: number;
  /** `max_tokens` of requests that give none (default 128). */
  readonly defaultMaxTokens?: number;
  /** Largest request body (default 64 MiB). */
  readonly maxBodyBytes?: number;
  /** Port announced as `remote_port` in the `kv_transfer_params` of prefill answers (default 5600, vLLM's). */
  readonly kvSideChannelPort?: number;
}

const CREATED = Math.floor(Date.now() / 1000);

/** A running simulated pod. */
export class PodServer {
  readonly engine: SimEngine;
  readonly publisher: KvEventPublisher;
  readonly metrics: PodMetrics;
  readonly maxModelLen: number;
  /** vLLM's KV-transfer engine id, announced as `remote_engine_id` by a prefill answer. */
  readonly engineId = randomUUID();
  private readonly server: Server;
  private readonly opts: PodServerOptions;
  private readonly ctx: GenerateContext;
  private readonly maxBodyBytes: number;
  private closing: Promise<void> | undefined;

  private constructor(opts: PodServerOptions, publisher: KvEventPublisher) {
    this.opts = opts;
    this.publisher = publisher;
    this.metrics = new PodMetrics(opts.model);
    this.maxModelLen = opts.maxModelLen ?? opts.params.maxModelLen ?? 32768;
    this.engine = createSimEngine({ ...opts.params, maxModelLen: this.maxModelLen }, opts.clock ?? realClock);
    const loraIds = new Map((opts.loras ?? []).map((name, i) => [name, i + 1]));
    this.engine.onKvEvents((events) => {
      // vLLM stamps each batch with time.time() and data_parallel_rank 0; sends are queued by the publisher.
      const payload = encodeKvEventBatch(
        Date.now() / 1000,
        wireEvents(events, (n) => loraIds.get(n) ?? 0),
      );
      this.publisher.publish(payload).catch(() => undefined);
    });
    let seq = 0;
    this.maxBodyBytes = opts.maxBodyBytes ?? 64 * 1024 * 1024;
    this.ctx = {
      engine: this.engine,
      metrics: this.metrics,
      tokenizer: opts.tokenizer,
      served: new Set([opts.model, ...(opts.loras ?? [])]),
      baseModel: opts.model,
      defaultMaxTokens: opts.defaultMaxTokens ?? 128,
      nextId: () => `req-${++seq}`,
      kvSource: () => ({ engineId: this.engineId, host: this.host, port: opts.kvSideChannelPort ?? 5600 }),
    };
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        sendError(res, 500, err instanceof Error ? err.message : String(err));
      });
    });
    // Longer than any client's idle keep-alive (undici's is 4 s), so the client always closes an idle connection
    // first: with Node's 5 s default, a request written just as a starved event loop ran the server's timer was
    // answered with ECONNRESET.
    this.server.keepAliveTimeout = 65_000;
  }

  /** Bind the HTTP server and both ZeroMQ sockets; the engine starts idle. */
  static async start(opts: PodServerOptions): Promise<PodServer> {
    const host = opts.host ?? "127.0.0.1";
    const publisher = await KvEventPublisher.start({
      host,
      ...(opts.pubPort === undefined ? {} : { pubPort: opts.pubPort }),
      ...(opts.replayPort === undefined ? {} : { replayPort: opts.replayPort }),
      ...(opts.topic === undefined ? {} : { topic: opts.topic }),
      ...(opts.bufferSteps === undefined ? {} : { bufferSteps: opts.bufferSteps }),
    });
    const pod = new PodServer(opts, publisher);
    try {
      await new Promise<void>((resolve, reject) => {
        pod.server.once("error", reject);
        pod.server.listen(opts.port ?? 0, host, () => {
          pod.server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      pod.engine.stop();
      await publisher.close();
      throw err;
    }
    return pod;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  get pubPort(): number {
    return this.publisher.pubPort;
  }
  get replayPort(): number {
    return this.publisher.replayPort;
  }
  /** `http://host:port`. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Stop the engine, drop open connections, close the sockets. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.engine.stop();
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
      await this.publisher.close();
    })();
    return this.closing;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = req.method ?? "GET";
    const want = (m: string): boolean => {
      if (method === m) return true;
      sendJson(res, 405, { detail: "Method Not Allowed" });
      return false;
    };
    switch (path) {
      case "/v1/chat/completions":
      case "/v1/completions": {
        if (!want("POST")) return;
        const body = await this.body(req, res);
        if (body === undefined) return;
        handleGenerate(this.ctx, path === "/v1/completions" ? "completions" : "chat", res, body);
        return;
      }
      case "/tokenize":
        if (want("POST")) await this.tokenize(req, res);
        return;
      case "/v1/models":
        if (want("GET")) sendJson(res, 200, this.models());
        return;
      case "/metrics":
        if (!want("GET")) return;
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(this.metrics.render(this.engine.stats()));
        return;
      case "/reset_prefix_cache":
        if (!want("POST")) return;
        this.engine.resetPrefixCache();
        res.writeHead(200).end();
        return;
      case "/health":
        if (want("GET")) res.writeHead(200).end();
        return;
      default:
        sendJson(res, 404, { detail: "Not Found" });
    }
  }

  private async body(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    try {
      return await readBody(req, this.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) sendError(res, 413, err.message);
      else sendError(res, 400, "error reading request body");
      return undefined;
    }
  }

  private async tokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await this.body(req, res);
    if (raw === undefined) return;
    let body: Record<string, unknown>;
    try {
      body = jsonObject(raw);
    } catch (err) {
      sendError(res, 400, err instanceof Error ? err.message : String(err));
      return;
    }
    const model = typeof body["model"] === "string" ? body["model"] : this.opts.model;
    if (!this.ctx.served.has(model)) {
      sendError(res, 404, `The model \`${model}\` does not exist.`, "model");
      return;
    }
    try {
      const tokens = tokenizeBody(this.opts.tokenizer, body);
      sendJson(res, 200, {
        count: tokens.length,
        max_model_len: this.maxModelLen,
        tokens: Array.from(tokens),
        // Token strings are not reconstructed by the simulator.
        ...(body["return_token_strs"] === true ? { token_strs: null } : {}),
      });
    } catch (err) {
      if (err instanceof SimRequestError) sendError(res, 400, err.message, err.param);
      else sendError(res, 500, err instanceof Error ? err.message : String(err));
    }
  }

  /** vLLM's `/v1/models`: the base model, then one card per adapter with the base as `parent`. */
  private models(): object {
    const perm = {
      id: "modelperm-sim",
      object: "model_permission",
      created: CREATED,
      allow_create_engine: false,
      allow_sampling: true,
      allow_logprobs: true,
      allow_search_indices: false,
      allow_view: true,
      allow_fine_tuning: false,
      organization: "*",
      group: null,
      is_blocking: false,
    };
    const card = (id: string, parent: string | null, maxLen: number | null): object => ({
      id,
      object: "model",
      created: CREATED,
      owned_by: "vllm",
      root: id,
      parent,
      max_model_len: maxLen,
      permission: [perm],
    });
    const base = this.opts.model;
    return {
      object: "list",
      data: [card(base, null, this.maxModelLen), ...(this.opts.loras ?? []).map((l) => card(l, base, null))],
    };
  }
}

/**
 * Ids for a vLLM `/tokenize` body: the chat form (`messages`) as a chat request is tokenized, else the completion
 * form (`prompt`, a string). No special tokens are added, so the ids are the ones the engine hashes.
 *
 * @throws SimRequestError when neither form is present or the messages are malformed.
 */
function tokenizeBody(tokenizer: SimTokenizer, body: Record<string, unknown>): Uint32Array {
  if (body["messages"] !== undefined) {
    const { turns, text } = chatOf(body);
    return promptTokens(tokenizer, { t: "text", text }, turns);
  }
  const prompt = body["prompt"];
  if (typeof prompt !== "string") throw new SimRequestError("'prompt' or 'messages' is required", "prompt");
  return tokenizer.encode(prompt);
}
