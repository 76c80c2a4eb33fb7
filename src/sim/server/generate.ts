/**
 * `POST /v1/chat/completions` and `POST /v1/completions` on a simulated pod: read the body with the simulator's own
 * parser and tokenizer (`request.ts`, `tokenizer.ts`), submit to the engine, and answer as vLLM does: one JSON body with
 * `usage`, or an SSE stream whose last content chunk carries `finish_reason`, followed (with
 * `stream_options.include_usage`) by the usage chunk and `data: [DONE]`.
 *
 * @module
 */
import type { ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { SimEngine, SimRequestDone } from "../engine/types";
import { SimAdmissionError } from "../engine/types";
import type { PodMetrics } from "./metrics";
import type { ApiKind, ResponseHead } from "./openai";
import {
  completionBody,
  outputText,
  roleChunk,
  sse,
  tokenChunk,
  tokenText,
  usage,
  usageChunk,
} from "./openai";
import { SimRequestError, parseGenerate } from "./request";
import type { SimRequest } from "./request";
import { promptTokens } from "./tokenizer";
import type { SimTokenizer } from "./tokenizer";
import { sendJson, sendError } from "./http-util";

/** What the generate handler needs from its pod. */
export interface GenerateContext {
  readonly engine: SimEngine;
  readonly metrics: PodMetrics;
  /** The tokenizer of the base model and its adapters. */
  readonly tokenizer: SimTokenizer;
  /** The base model and its adapters: the names accepted in `model`. */
  readonly served: ReadonlySet<string>;
  readonly baseModel: string;
  /** `max_tokens` when the request gives none. */
  readonly defaultMaxTokens: number;
  /** A fresh engine request id. */
  nextId(): string;
  /** Where decode pods would pull this pod's KV from (the NIXL side channel), for `kv_transfer_params`. */
  kvSource(): KvSource;
}

/** The identity a prefill pod puts in the `kv_transfer_params` it returns (vLLM's NIXL connector fields). */
export interface KvSource {
  /** vLLM's engine id (a UUID unless configured). */
  readonly engineId: string;
  /** `VLLM_NIXL_SIDE_CHANNEL_HOST` / `_PORT`. */
  readonly host: string;
  readonly port: number;
}

/**
 * The `kv_transfer_params` a vLLM prefill pod (NIXL connector) returns for a `do_remote_decode` request: what the
 * decode pod needs to pull the prompt's KV, flipped to `do_remote_prefill`.
 */
export function prefillKvParams(source: KvSource, requestId: string, blockIds: readonly number[]): object {
  return {
    do_remote_prefill: true,
    do_remote_decode: false,
    remote_block_ids: blockIds,
    remote_engine_id: source.engineId,
    remote_request_id: requestId,
    remote_host: source.host,
    remote_port: source.port,
    tp_size: 1,
  };
}

const now = (): number => performance.now();

/** Parse; a rejected body is answered 400 (as vLLM does) and undefined returned. */
function parse(kind: ApiKind, body: Buffer, res: ServerResponse): SimRequest | undefined {
  try {
    return parseGenerate(body, kind);
  } catch (err) {
    if (err instanceof SimRequestError) sendError(res, 400, err.message, err.param);
    else sendError(res, 500, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

/** Handle one generate request whose body has been read. */
export function handleGenerate(ctx: GenerateContext, kind: ApiKind, res: ServerResponse, body: Buffer): void {
  const arrival = now();
  const parsed = parse(kind, body, res);
  if (parsed === undefined) return;
  if (!ctx.served.has(parsed.model)) {
    sendError(res, 404, `The model \`${parsed.model}\` does not exist.`, "model");
    return;
  }
  let tokens: Uint32Array;
  try {
    tokens = promptTokens(ctx.tokenizer, parsed.prompt, parsed.chat);
  } catch (err) {
    sendError(res, 500, `tokenization failed: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  const maxTokens = parsed.maxTokens ?? ctx.defaultMaxTokens;
  const kv = parsed.kvTransfer;
  const head: ResponseHead = {
    kind,
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`,
    created: Math.floor(Date.now() / 1000),
    model: parsed.model,
  };
  const id = ctx.nextId();
  let done = false;
  let lastTokenAt = 0;

  const finishStream = (r: SimRequestDone): void => {
    // The engine stops at max_tokens ("length"); a shorter output would be an end-of-sequence ("stop").
    if (r.completionTokens < maxTokens) res.write(sse(tokenChunk(head, "", "stop")));
    if (parsed.includeUsage) {
      res.write(sse(usageChunk(head, usage(r.promptTokens, r.completionTokens, r.cachedTokens))));
    }
    res.end(sse("[DONE]"));
  };

  try {
    ctx.engine.submit({
      id,
      tokens,
      maxTokens,
      ...(parsed.model === ctx.baseModel ? {} : { lora: parsed.model }),
      ...(kv?.doRemoteDecode === true ? { remoteDecode: true } : {}),
      ...(kv?.doRemotePrefill === true ? { remotePrefill: { blocks: kv.remoteBlocks } } : {}),
      onFirstToken() {
        ctx.metrics.observeTtft((now() - arrival) / 1000);
        // vLLM's first chat chunk (the role) goes out with the first output, not on admission.
        if (parsed.stream && kind === "chat") res.write(sse(roleChunk(head)));
      },
      onToken(index) {
        const t = now();
        if (index > 0) ctx.metrics.observeInterToken((t - lastTokenAt) / 1000);
        lastTokenAt = t;
        if (parsed.stream) {
          const last = index + 1 >= maxTokens;
          res.write(sse(tokenChunk(head, tokenText(index), last ? "length" : null)));
        }
      },
      onDone(r) {
        done = true;
        const reason = r.completionTokens < maxTokens ? "stop" : "length";
        ctx.metrics.finish(reason, (now() - arrival) / 1000);
        if (parsed.stream) {
          finishStream(r);
          return;
        }
        const u = usage(r.promptTokens, r.completionTokens, r.cachedTokens);
        const body = completionBody(head, outputText(r.completionTokens), reason, u);
        // vLLM returns the parameters only in the non-streaming answer (the router's prefill hop is non-streaming).
        const params =
          r.blockIds === undefined ? undefined : prefillKvParams(ctx.kvSource(), head.id, r.blockIds);
        sendJson(res, 200, params === undefined ? body : { ...body, kv_transfer_params: params });
      },
    });
  } catch (err) {
    if (err instanceof SimAdmissionError) sendError(res, err.status, err.message);
    else sendError(res, 500, err instanceof Error ? err.message : String(err));
    return;
  }
  // A client that goes away frees its KV blocks, as vLLM aborts a request whose connection closed.
  res.on("close", () => {
    if (done) return;
    done = true;
    if (ctx.engine.cancel(id)) ctx.metrics.finish("abort", undefined);
  });
  if (parsed.stream) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
  }
}
