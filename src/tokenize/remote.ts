/**
 * vLLM's `POST /tokenize` as a tokenizer: the completion form for text, the chat form
 * (`messages`, `add_generation_prompt`) for chats, `add_special_tokens: false` in both. Per-call timeout, bounded
 * concurrency, and failures mapped to a `TokenizeError` with a short reason (no prompt text).
 *
 * @module
 */
import type { ChatMessage, Tokenizer } from "./tokenizer";
import { TokenizeError } from "./errors";

/** Options of `createRemoteTokenizer`. */
export interface RemoteTokenizerOptions {
  /** The model name sent in the `model` field. */
  readonly model: string;
  /** Base URL (`http://10.0.0.7:8000`) of a server of the model, chosen per call; `undefined` → `no-endpoint`. */
  readonly endpointFor: (model: string) => string | undefined;
  /** Per-call timeout. Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Calls in flight at most. Default 16. */
  readonly maxConcurrent?: number;
  /** Calls waiting for a slot at most; beyond it `queue-full`. Default 256. */
  readonly maxQueue?: number;
}

/** A small counting semaphore with a bounded wait queue. */
class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  /** Resolves with a release function once a slot is free. */
  async acquire(signal: AbortSignal | undefined): Promise<() => void> {
    if (this.active >= this.limit) {
      if (this.waiters.length >= this.maxWaiting) throw new TokenizeError("queue-full");
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new TokenizeError("aborted"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiters.push(wake);
      });
    } else {
      this.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.active--;
    };
  }
}

/** Extract `tokens` from a `/tokenize` response body, or `undefined` when malformed. */
function parseTokens(body: unknown): Uint32Array | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const tokens = (body as Record<string, unknown>)["tokens"];
  if (!Array.isArray(tokens)) return undefined;
  const out = new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t: unknown = tokens[i];
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 0xffffffff) return undefined;
    out[i] = t;
  }
  return out;
}

/** A tokenizer that asks a vLLM server of the model. */
export function createRemoteTokenizer(options: RemoteTokenizerOptions): Tokenizer {
  const timeoutMs = options.timeoutMs ?? 2000;
  const sem = new Semaphore(Math.max(1, options.maxConcurrent ?? 16), Math.max(0, options.maxQueue ?? 256));

  const call = async (
    body: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<Uint32Array> => {
    if (signal?.aborted === true) throw new TokenizeError("aborted");
    const base = options.endpointFor(options.model);
    if (base === undefined) throw new TokenizeError("no-endpoint");
    const release = await sem.acquire(signal);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      let res: Response;
      try {
        res = await fetch(`${base.replace(/\/+$/, "")}/tokenize`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: options.model, ...body }),
          signal: combined,
        });
      } catch {
        if (timeout.aborted) throw new TokenizeError("timeout");
        throw new TokenizeError(combined.aborted ? "aborted" : "network");
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new TokenizeError(`http-${res.status}`);
      }
      let parsed: unknown;
      try {
        parsed = await res.json();
      } catch {
        throw new TokenizeError(timeout.aborted ? "timeout" : "bad-response", "body is not JSON");
      }
      const ids = parseTokens(parsed);
      if (ids === undefined) throw new TokenizeError("bad-response", "no integer tokens array");
      return ids;
    } finally {
      release();
    }
  };

  return {
    name: `remote:${options.model}`,
    encode: (text, signal) => call({ prompt: text, add_special_tokens: false }, signal),
    encodeChat: (messages: readonly ChatMessage[], signal?: AbortSignal) =>
      call(
        {
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          add_generation_prompt: true,
          add_special_tokens: false,
        },
        signal,
      ),
    close: () => Promise.resolve(),
  };
}
