/**
 * An in-process OTLP/HTTP trace receiver on 127.0.0.1: accepts `POST /v1/traces` in the protobuf JSON encoding (what
 * `@opentelemetry/exporter-trace-otlp-http` sends), keeps every span, and lets a test wait for the spans it expects
 * (resolved by the export request that brings them, never by a sleep).
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/** One OTLP attribute value in the JSON encoding. */
interface AnyValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}

/** A received span with its attributes flattened. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Record<string, string | number | boolean>;
  readonly events: readonly { readonly name: string; readonly timeNs: bigint }[];
  readonly statusCode: number;
  /** The `service.name` of the resource it came under. */
  readonly serviceName: string | undefined;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>/v1/traces`. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export requests received. */
  requests(): number;
  /** Resolves with all spans once `match` holds over them (checked after every export request). */
  waitFor(match: (spans: readonly ReceivedSpan[]) => boolean): Promise<readonly ReceivedSpan[]>;
  close(): Promise<void>;
}

interface OtlpSpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: { key: string; value: AnyValue }[];
  events?: { name: string; timeUnixNano: string | number }[];
  status?: { code?: number };
}

interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: AnyValue }[] };
    scopeSpans?: { spans?: OtlpSpanJson[] }[];
  }[];
}

function valueOf(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? "";
}

function flatten(
  attrs: { key: string; value: AnyValue }[] | undefined,
): Record<string, string | number | boolean> {
  return Object.fromEntries((attrs ?? []).map((a) => [a.key, valueOf(a.value)]));
}

function spansOf(doc: OtlpJson): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const serviceName = flatten(rs.resource?.attributes)["service.name"];
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId === "" ? undefined : s.parentSpanId,
          name: s.name,
          kind: s.kind ?? 0,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          attributes: flatten(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, timeNs: BigInt(e.timeUnixNano) })),
          statusCode: s.status?.code ?? 0,
          serviceName: typeof serviceName === "string" ? serviceName : undefined,
        });
      }
    }
  }
  return out;
}

/** Start a receiver on an ephemeral loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let count = 0;
  let waiters: {
    match: (s: readonly ReceivedSpan[]) => boolean;
    resolve: (s: readonly ReceivedSpan[]) => void;
  }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      let raw = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
      count += 1;
      spans.push(...spansOf(JSON.parse(raw.toString("utf8")) as OtlpJson));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      waiters = waiters.filter((w) => {
        if (!w.match(spans)) return true;
        w.resolve(spans);
        return false;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests: () => count,
    waitFor(match) {
      if (match(spans)) return Promise.resolve(spans);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
