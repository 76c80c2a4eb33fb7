/**
 * One request through a running kvroute, sent the way Envoy's ext_proc filter sends it: request headers, then the
 * buffered body, reading kvroute's reply to each; the reply to the body carries the decision (the `target-pod`
 * header mutation, the `envoy.lb` metadata and the decision's facts in the `kvroute` namespace). Optionally the conversation then goes on as Envoy's would after
 * the upstream answered: the pod's response headers and body, so kvroute releases the pod's load and reads the
 * usage. Uses kvroute's own ext_proc protos (`loadExtProcDefinition`).
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { KVROUTE_NAMESPACE, LB_NAMESPACE, loadExtProcDefinition } from "./extproc";
import type { ProcessingRequest, ProcessingResponse, ProtoStruct } from "./extproc";

/** What kvroute answered to the request. */
export type RouteAnswer =
  | {
      readonly t: "routed";
      /** Headers kvroute set on the request (`target-pod`, `routing-strategy`, `x-request-id`, ...). */
      readonly headers: Readonly<Record<string, string>>;
      /** The decision's `envoy.lb` dynamic metadata fields, when present. */
      readonly lb: ProtoStruct["fields"] | undefined;
      /** The decision's facts (`kvroute` namespace: strategy, pod, prefix blocks, ...), when present. */
      readonly facts: ProtoStruct["fields"] | undefined;
      /** From sending the body to receiving the decision, as Envoy would wait for it. */
      readonly decisionMs: number;
    }
  | {
      /** An `immediate_response`: kvroute refused the request (Envoy would send this reply to the client). */
      readonly t: "local-reply";
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
      readonly details: string;
    };

/** An open conversation after the decision. */
export interface RouteConversation {
  readonly answer: RouteAnswer;
  /**
   * Tell kvroute what the pod answered (response headers, then the whole body) and end the stream; resolves with
   * the headers kvroute set on the response (AIBrix's `target-pod` name, `request-id`, ...).
   */
  respond(status: number, contentType: string, body: Buffer): Promise<Record<string, string>>;
  /** End the stream without a response (as Envoy does when the upstream request fails). */
  close(): void;
}

type Duplex = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

function headerMap(h: Readonly<Record<string, string>>): { key: string; raw_value: Buffer }[] {
  return Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) }));
}

/** The headers a reply phase sets, decoded. */
function setHeaders(reply: ProcessingResponse | undefined): Record<string, string> {
  const phase =
    reply?.request_headers ?? reply?.request_body ?? reply?.response_headers ?? reply?.response_body;
  const out: Record<string, string> = {};
  for (const o of phase?.response?.header_mutation?.set_headers ?? []) {
    out[o.header.key] = Buffer.from(o.header.raw_value ?? []).toString("utf8");
  }
  return out;
}

/** `envoy.type.v3.StatusCode` names (proto-loader's `enums: String`) back to HTTP status numbers. */
function statusNumbers(): ReadonlyMap<string, number> {
  const def = loadExtProcDefinition().packageDefinition["envoy.type.v3.StatusCode"] as unknown as {
    type: { value: { name: string; number: number }[] };
  };
  return new Map(def.type.value.map((v) => [v.name, v.number]));
}

function localReply(reply: NonNullable<ProcessingResponse["immediate_response"]>): RouteAnswer {
  const code: unknown = reply.status.code;
  const headers: Record<string, string> = {};
  for (const o of reply.headers?.set_headers ?? []) {
    headers[o.header.key] = Buffer.from(o.header.raw_value ?? []).toString("utf8");
  }
  return {
    t: "local-reply",
    status: typeof code === "number" ? code : (statusNumbers().get(String(code)) ?? 0),
    headers,
    body: reply.body ? Buffer.from(reply.body).toString("utf8") : "",
    details: reply.details ?? "",
  };
}

/** Replies in order; `next()` rejects once the stream failed or ended without one. */
class ReplyQueue {
  private readonly queue: ProcessingResponse[] = [];
  private waiting: { resolve: (r: ProcessingResponse) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(call: Duplex) {
    call.on("data", (r: ProcessingResponse) => {
      const w = this.waiting.shift();
      if (w) w.resolve(r);
      else this.queue.push(r);
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
    };
    // grpc-js appends an empty "Resolution note:" to connection failures.
    const details = (e: grpc.ServiceError): string => e.details.replace(/\s*Resolution note:\s*$/, "");
    call.on("error", (e: grpc.ServiceError) => fail(new Error(`gRPC ${grpc.status[e.code]}: ${details(e)}`)));
    call.on("end", () => fail(new Error("kvroute ended the stream without a reply")));
  }

  next(): Promise<ProcessingResponse> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}

/**
 * Send one request (`headers` with the pseudo-headers, and `body`) to the ext_proc server at `address` and read
 * its decision. Rejects when kvroute cannot be reached or breaks the protocol within `timeoutMs`.
 */
export async function routeOnce(o: {
  readonly address: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly timeoutMs: number;
}): Promise<RouteConversation> {
  const { processService } = loadExtProcDefinition();
  const method = processService.Process;
  const client = new grpc.Client(o.address, grpc.credentials.createInsecure());
  const call: Duplex = client.makeBidiStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    new grpc.Metadata(),
    { deadline: Date.now() + o.timeoutMs },
  );
  const replies = new ReplyQueue(call);
  const close = (): void => {
    call.end();
    client.close();
  };
  const done = (answer: RouteAnswer): RouteConversation => ({
    answer,
    close,
    respond: () => {
      close();
      return Promise.resolve({});
    },
  });
  try {
    call.write({ request_headers: { headers: { headers: headerMap(o.headers) }, end_of_stream: false } });
    const first = await replies.next();
    if (first.immediate_response) return done(localReply(first.immediate_response));
    const started = performance.now();
    call.write({ request_body: { body: o.body, end_of_stream: true } });
    const decision = await replies.next();
    const decisionMs = performance.now() - started;
    if (decision.immediate_response) return done(localReply(decision.immediate_response));
    // Deferred modes decide on the headers already; the body's reply then only continues.
    const headers = { ...setHeaders(first), ...setHeaders(decision) };
    const metadata = decision.dynamic_metadata ?? first.dynamic_metadata;
    const lb = metadata?.fields[LB_NAMESPACE]?.structValue?.fields;
    const facts = metadata?.fields[KVROUTE_NAMESPACE]?.structValue?.fields;
    const mode = first.mode_override;
    return {
      answer: { t: "routed", headers, lb, facts, decisionMs },
      close,
      async respond(status, contentType, body) {
        try {
          const responseHeaders = { ":status": String(status), "content-type": contentType };
          call.write({ response_headers: { headers: { headers: headerMap(responseHeaders) } } });
          const set = setHeaders(await replies.next());
          if (mode?.response_body_mode !== "NONE") {
            call.write({ response_body: { body, end_of_stream: true } });
            await replies.next();
          }
          return set;
        } finally {
          close();
        }
      },
    };
  } catch (e) {
    close();
    throw e;
  }
}
