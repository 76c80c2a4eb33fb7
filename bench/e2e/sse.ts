/**
 * What the driver's client reads from an OpenAI-style response: the time of the first content token and the usage.
 * Streams are vLLM's SSE (`data: <json>\n\n` events, final `choices: []` usage chunk, `data: [DONE]`),
 * fed in arbitrary chunks; a non-streaming JSON body is read whole at the end.
 *
 * @module
 */

/** Usage as the final chunk (or a non-streaming body) reports it. */
export interface Usage {
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** `prompt_tokens_details.cached_tokens`, when the engine reports it. */
  readonly cachedTokens?: number;
}

/** Incremental reader of one response body. */
export class ResponseReader {
  private buffer = "";
  private decoder = new TextDecoder();
  private json = "";
  /** Whether any content token has been seen. */
  firstToken = false;
  usage: Usage | undefined;
  /** Message of a mid-stream `{"error": ...}` event. */
  error: string | undefined;
  /** Content characters seen (a cheap output-size proxy when usage is missing). */
  contentChars = 0;

  constructor(private readonly streaming: boolean) {}

  /** Feed client-visible body bytes; returns true when this chunk carried the first content token. */
  push(chunk: Uint8Array): boolean {
    const text = this.decoder.decode(chunk, { stream: true });
    if (!this.streaming) {
      this.json += text;
      return false;
    }
    const before = this.firstToken;
    this.buffer += text;
    let cut = this.buffer.indexOf("\n\n");
    while (cut >= 0) {
      this.event(this.buffer.slice(0, cut));
      this.buffer = this.buffer.slice(cut + 2);
      cut = this.buffer.indexOf("\n\n");
    }
    return !before && this.firstToken;
  }

  /** The body ended: read a non-streaming body, or a last event without its blank line. */
  end(): void {
    if (this.streaming) {
      if (this.buffer.trim()) this.event(this.buffer);
      this.buffer = "";
      return;
    }
    const o = parse(this.json);
    if (o === undefined) return;
    this.take(o);
    if (this.contentChars > 0) this.firstToken = true;
  }

  private event(raw: string): void {
    for (const line of raw.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") continue;
      const o = parse(data);
      if (o !== undefined) this.take(o);
    }
  }

  private take(o: Record<string, unknown>): void {
    const err = o["error"];
    if (err !== undefined && err !== null) {
      const msg = typeof err === "object" ? (err as Record<string, unknown>)["message"] : err;
      this.error = typeof msg === "string" ? msg : JSON.stringify(err);
    }
    const choices = o["choices"];
    if (Array.isArray(choices)) {
      for (const c of choices as unknown[]) {
        const n = contentLength(c);
        this.contentChars += n;
        if (n > 0) this.firstToken = true;
      }
    }
    const u = o["usage"];
    if (typeof u === "object" && u !== null) this.usage = readUsage(u as Record<string, unknown>);
  }
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const o: unknown = JSON.parse(text);
    return typeof o === "object" && o !== null && !Array.isArray(o)
      ? (o as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Characters of content in one choice: chat `delta.content` / `message.content`, or completions `text`. */
function contentLength(choice: unknown): number {
  if (typeof choice !== "object" || choice === null) return 0;
  const c = choice as Record<string, unknown>;
  const text = c["text"];
  if (typeof text === "string") return text.length;
  for (const key of ["delta", "message"]) {
    const d = c[key];
    if (typeof d === "object" && d !== null) {
      const content = (d as Record<string, unknown>)["content"];
      if (typeof content === "string") return content.length;
    }
  }
  return 0;
}

function readUsage(u: Record<string, unknown>): Usage {
  const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
  const details = u["prompt_tokens_details"];
  const cached =
    typeof details === "object" && details !== null
      ? num((details as Record<string, unknown>)["cached_tokens"])
      : undefined;
  const prompt = num(u["prompt_tokens"]);
  const completion = num(u["completion_tokens"]);
  return {
    ...(prompt === undefined ? {} : { promptTokens: prompt }),
    ...(completion === undefined ? {} : { completionTokens: completion }),
    ...(cached === undefined ? {} : { cachedTokens: cached }),
  };
}
