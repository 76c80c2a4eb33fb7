/**
 * Tiny real HTTP "pods" for the driver tests: each answers `/v1/chat/completions` and `/v1/completions` with a
 * vLLM-style SSE stream (role chunk, `min(max_tokens, 6)` one-word content chunks a few ms apart, finish, usage
 * chunk, `[DONE]`) and records what it received.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** A request a pod received. */
export interface Received {
  readonly port: number;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A running set of pods. */
export interface SsePods {
  readonly ports: readonly number[];
  readonly received: Received[];
  /** Make the next responses of every pod answer with this HTTP status and a JSON error. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

const MAX_CHUNKS = 6;

async function answer(req: http.IncomingMessage, res: http.ServerResponse, pods: State): Promise<void> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const body = Buffer.concat(parts).toString("utf8");
  const port = req.socket.localPort ?? 0;
  pods.received.push({ port, path: req.url ?? "", headers: req.headers, body });
  if (pods.status !== undefined) {
    res.writeHead(pods.status, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "injected failure", type: "server_error" } }));
    return;
  }
  const parsed = JSON.parse(body) as { max_tokens?: number; messages?: unknown; prompt?: unknown };
  const n = Math.min(parsed.max_tokens ?? MAX_CHUNKS, MAX_CHUNKS);
  const chat = parsed.messages !== undefined;
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  const head = { id: "cmpl-test", created: 1767225600, model: "m1" };
  const send = (o: object): boolean => res.write(`data: ${JSON.stringify({ ...head, ...o })}\n\n`);
  const choice = (content: string, finish: string | null): object =>
    chat
      ? {
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta: { content }, finish_reason: finish }],
        }
      : { object: "text_completion", choices: [{ index: 0, text: content, finish_reason: finish }] };
  if (chat)
    send({
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
    });
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 3));
    send(choice(` w${i}`, i === n - 1 ? "length" : null));
  }
  const promptTokens = body.length;
  send({
    choices: [],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: n,
      total_tokens: promptTokens + n,
      prompt_tokens_details: { cached_tokens: Math.floor(promptTokens / 2) },
    },
  });
  res.end("data: [DONE]\n\n");
}

interface State {
  readonly received: Received[];
  status: number | undefined;
}

/** Start `count` pods on 127.0.0.1 with ephemeral ports. */
export async function startSsePods(count: number): Promise<SsePods> {
  const state: State = { received: [], status: undefined };
  const servers: http.Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = http.createServer((req, res) => {
      answer(req, res, state).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
  }
  return {
    ports: servers.map((s) => (s.address() as AddressInfo).port),
    received: state.received,
    failWith(status) {
      state.status = status;
    },
    async close() {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}
