/**
 * The ext_proc side of the driver: a gRPC client for kvroute's `Process` method, one bidi stream per HTTP request
 * as Envoy opens them, with a reply queue that waits at most `message_timeout` per reply (Envoy's per-message
 * timer).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { HeaderMutation, ProcessingRequest, ProcessingResponse } from "../../src/extproc/messages";
import { loadExtProcDefinition } from "../../src/extproc/proto";

type Duplex = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

/** What waiting for a reply produced. */
export type Next =
  | { readonly kind: "reply"; readonly reply: ProcessingResponse }
  /** The server closed the stream; `code` is the gRPC status (0 = OK: Envoy then continues unprocessed). */
  | { readonly kind: "closed"; readonly code: number; readonly details: string }
  | { readonly kind: "timeout" };

/** HTTP status numbers by `envoy.type.v3.StatusCode` name (proto-loader decodes enums as names). */
let statusNumbers: ReadonlyMap<string, number> | undefined;

/** The numeric HTTP status of an `immediate_response`, whatever form the decoder gave it in. */
export function immediateStatus(reply: ProcessingResponse): number {
  const code: unknown = reply.immediate_response?.status.code;
  if (typeof code === "number") return code;
  if (typeof code !== "string") return 0;
  if (statusNumbers === undefined) {
    const def = loadExtProcDefinition().packageDefinition["envoy.type.v3.StatusCode"] as unknown as {
      type: { value: { name: string; number: number }[] };
    };
    statusNumbers = new Map(def.type.value.map((v) => [v.name, v.number]));
  }
  return statusNumbers.get(code) ?? (Number(code) || 0);
}

/** One ext_proc stream, from Envoy's side. */
export class SideStream {
  private readonly queue: ProcessingResponse[] = [];
  private waiter: ((n: Next) => void) | undefined;
  private closed: Next | undefined;

  constructor(private readonly call: Duplex) {
    call.on("data", (r: ProcessingResponse) => {
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w({ kind: "reply", reply: r });
      else this.queue.push(r);
    });
    // Errors also arrive as a status; listening keeps them from being thrown as unhandled.
    call.on("error", () => undefined);
    call.on("status", (s: grpc.StatusObject) => {
      this.closed = { kind: "closed", code: s.code, details: s.details };
      const w = this.waiter;
      this.waiter = undefined;
      w?.(this.closed);
    });
  }

  /** Whether the server has closed the stream (replies may still be queued). */
  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  /** Send one message; ignored once the stream is closed (Envoy stops processing then). */
  send(msg: ProcessingRequest): void {
    if (this.closed === undefined) this.call.write(msg);
  }

  /** The next reply, the close, or a timeout after `timeoutMs`. */
  next(timeoutMs: number): Promise<Next> {
    const r = this.queue.shift();
    if (r) return Promise.resolve({ kind: "reply", reply: r });
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ kind: "timeout" });
      }, timeoutMs);
      this.waiter = (n) => {
        clearTimeout(timer);
        resolve(n);
      };
    });
  }

  /** Half-close (Envoy's end of processing) and wait up to `timeoutMs` for the server's status. */
  async finish(timeoutMs: number): Promise<void> {
    if (this.closed === undefined) this.call.end();
    const deadline = Date.now() + timeoutMs;
    while (this.closed === undefined && Date.now() < deadline) {
      const n = await this.next(deadline - Date.now());
      if (n.kind !== "reply") break;
    }
    if (this.closed === undefined) this.call.cancel();
  }

  /** Abandon the stream (Envoy resets it when the downstream request dies). */
  cancel(): void {
    if (this.closed === undefined) this.call.cancel();
  }
}

/** A gRPC channel to kvroute's ext_proc port. */
export class SideChannel {
  private readonly client: grpc.Client;
  private readonly method: grpc.MethodDefinition<ProcessingRequest, ProcessingResponse>;

  constructor(address: string) {
    this.method = loadExtProcDefinition().processService.Process;
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  open(): SideStream {
    return new SideStream(
      this.client.makeBidiStreamRequest(
        this.method.path,
        this.method.requestSerialize,
        this.method.responseDeserialize,
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}

/** A header list as Envoy sends it (lower-cased keys, values in `raw_value`). */
export function headerMap(h: readonly (readonly [string, string])[]): {
  headers: { key: string; raw_value: Buffer }[];
} {
  return { headers: h.map(([key, v]) => ({ key: key.toLowerCase(), raw_value: Buffer.from(v, "latin1") })) };
}

/** Apply a header mutation to `headers` as Envoy does: removals, then `set_headers` overwrite (or append). */
export function applyMutation(headers: Map<string, string[]>, m: HeaderMutation | undefined): void {
  if (!m) return;
  for (const k of m.remove_headers ?? []) if (!k.startsWith(":")) headers.delete(k.toLowerCase());
  for (const o of m.set_headers ?? []) {
    const key = o.header.key.toLowerCase();
    const value = Buffer.from(o.header.raw_value ?? []).toString("latin1");
    if (o.append?.value) headers.set(key, [...(headers.get(key) ?? []), value]);
    else headers.set(key, [value]);
  }
}
