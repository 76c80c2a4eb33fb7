/**
 * `kvroute route`: send one OpenAI request through a running kvroute as Envoy would (`route-client.ts`) and print
 * the decision: the pod, the strategy, the prefix hit and kvroute's decision time, from the decision's facts kvroute
 * sends as dynamic metadata (`kvroute` namespace, docs/observability.md); the combined scores too when kvroute runs
 * with `--emit-endpoint-scores`. With `--send` the request then goes on to the chosen pod, as
 * Envoy's `ORIGINAL_DST` cluster would send it, and the pod's answer back through kvroute. A local reply (kvroute
 * refusing the request) is printed and exits 1.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { DECISION_KEYS, ENDPOINT_SCORES } from "./extproc";
import type { ProtoStruct } from "./extproc";
import { routeOnce } from "./route-client";
import type { RouteAnswer } from "./route-client";

export const ROUTE_USAGE = `Usage: kvroute route --model MODEL --prompt TEXT [options]

Sends one OpenAI request through a running kvroute the way Envoy does (ext_proc over gRPC: request headers, then
the body) and prints kvroute's decision. Exits 1 when kvroute refuses the request (its local reply is printed).

  --grpc-address HOST:PORT  kvroute's ext_proc gRPC address (default 127.0.0.1:50052)
  --model MODEL             the request's "model"
  --prompt TEXT             the user message (chat) or prompt (--completions)
  --strategy NAME           routing-strategy header (default: kvroute's ROUTING_ALGORITHM)
  --completions             POST /v1/completions with "prompt" instead of /v1/chat/completions
  --header NAME:VALUE       an extra request header (repeatable), e.g. x-session-id:abc
  --send                    also send the request to the chosen pod and report its answer through kvroute
  --max-tokens N            max_tokens of the request (default 16)
  --timeout-ms MS           give up after this long (default 10000)
  --help                    this text
`;

/** A bad command line (exit 2). */
class UsageError extends Error {}

interface RouteOptions {
  readonly address: string;
  readonly model: string;
  readonly prompt: string;
  readonly strategy: string | undefined;
  readonly completions: boolean;
  readonly headers: readonly (readonly [string, string])[];
  readonly send: boolean;
  readonly maxTokens: number;
  readonly timeoutMs: number;
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${text}`);
  return n;
}

/** Parse `kvroute route`'s flags; undefined for `--help`. */
export function parseRouteArgs(args: readonly string[]): RouteOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      options: {
        "grpc-address": { type: "string" },
        model: { type: "string" },
        prompt: { type: "string" },
        strategy: { type: "string" },
        completions: { type: "boolean" },
        header: { type: "string", multiple: true },
        send: { type: "boolean" },
        "max-tokens": { type: "string" },
        "timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return undefined;
  if (values.model === undefined || values.prompt === undefined)
    throw new UsageError("--model and --prompt are required");
  const headers = (values.header ?? []).map((h): [string, string] => {
    const at = h.indexOf(":", 1);
    if (at < 1) throw new UsageError(`--header must be NAME:VALUE, got ${JSON.stringify(h)}`);
    return [h.slice(0, at).trim().toLowerCase(), h.slice(at + 1).trim()];
  });
  return {
    address: values["grpc-address"] ?? "127.0.0.1:50052",
    model: values.model,
    prompt: values.prompt,
    strategy: values.strategy,
    completions: values.completions === true,
    headers,
    send: values.send === true,
    maxTokens: positiveInt("max-tokens", values["max-tokens"], 16),
    timeoutMs: positiveInt("timeout-ms", values["timeout-ms"], 10_000),
  };
}

/** The request Envoy would hand kvroute: pseudo-headers, headers and the JSON body. */
function buildRequest(o: RouteOptions): { path: string; headers: Record<string, string>; body: Buffer } {
  const path = o.completions ? "/v1/completions" : "/v1/chat/completions";
  const payload = o.completions
    ? { model: o.model, prompt: o.prompt, max_tokens: o.maxTokens }
    : { model: o.model, messages: [{ role: "user", content: o.prompt }], max_tokens: o.maxTokens };
  const body = Buffer.from(JSON.stringify(payload));
  const headers: Record<string, string> = {
    ":method": "POST",
    ":path": path,
    ":scheme": "http",
    ":authority": "kvroute-route.local",
    "content-type": "application/json",
    "content-length": String(body.length),
    "x-request-id": randomUUID(),
    ...(o.strategy === undefined ? {} : { "routing-strategy": o.strategy }),
    ...Object.fromEntries(o.headers),
  };
  return { path, headers, body };
}

/** The decision's scores (`--emit-endpoint-scores`), address → score, best first; empty when absent. */
function scoresOf(lb: ProtoStruct["fields"] | undefined): [string, number][] {
  const fields = lb?.[ENDPOINT_SCORES]?.structValue?.fields ?? {};
  return Object.entries(fields).map(([address, v]) => [address, v.numberValue ?? NaN]);
}

/** The decision's facts kvroute sent (`kvroute` namespace), as plain values. */
interface Facts {
  readonly pod: string | undefined;
  readonly decisionMs: number | undefined;
  readonly hitBlocks: number | undefined;
  readonly lookupBlocks: number | undefined;
  readonly fallbackReason: string | undefined;
}

function factsOf(fields: ProtoStruct["fields"] | undefined): Facts | undefined {
  if (fields === undefined) return undefined;
  return {
    pod: fields[DECISION_KEYS.pod]?.stringValue,
    decisionMs: fields[DECISION_KEYS.decisionMs]?.numberValue,
    hitBlocks: fields[DECISION_KEYS.prefixHitBlocks]?.numberValue,
    lookupBlocks: fields[DECISION_KEYS.prefixLookupBlocks]?.numberValue,
    fallbackReason: fields[DECISION_KEYS.fallbackReason]?.stringValue,
  };
}

/** The prefix hit as the decision's lookup found it on the picked pod. */
function prefixLine(facts: Facts | undefined): string {
  if (facts === undefined)
    return "unknown: kvroute sent no decision facts (a kvroute without the kvroute namespace)";
  const { hitBlocks: hit, lookupBlocks: looked } = facts;
  if (hit === undefined || looked === undefined || looked === 0)
    return "not looked up (no prefix-aware strategy, no prompt tokens, or a prompt shorter than a block)";
  const pct = ((hit / looked) * 100).toFixed(0);
  if (hit === 0) return `0/${looked} blocks: the picked pod holds none of the prompt's blocks (a miss)`;
  return `${hit}/${looked} blocks of the prompt cached on the picked pod (${pct}%)`;
}

function printDecision(
  o: RouteOptions,
  a: Extract<RouteAnswer, { t: "routed" }>,
  out: (s: string) => void,
): void {
  const pod = a.headers["target-pod"] ?? "(none)";
  const strategy = a.headers["routing-strategy"] ?? "(none)";
  const facts = factsOf(a.facts);
  const scores = scoresOf(a.lb);
  out(`kvroute at ${o.address} routed the request`);
  // Standalone pods are named by their address: the name then adds nothing.
  const name = facts?.pod === undefined || facts.pod === pod ? "" : ` (pod name ${facts.pod})`;
  out(`  pod:         ${pod}${name}`);
  out(`  strategy:    ${strategy}`);
  out(`  prefix hit:  ${prefixLine(facts)}`);
  if (facts?.fallbackReason !== undefined)
    out(
      `  fallback:    ${facts.fallbackReason} (the strategy abstained; the fewest requests in flight chose)`,
    );
  // kvroute's own time (parse + pick) when it says, and the round trip measured here, which adds the gRPC exchange
  // (and this one-shot process's cold start of it).
  const own = facts?.decisionMs === undefined ? "" : `${facts.decisionMs.toFixed(3)} ms in kvroute, `;
  out(`  decision:    ${own}${a.decisionMs.toFixed(1)} ms round trip (request body sent, decision received)`);
  if (scores.length > 0)
    out(`  scores:      ${scores.map(([addr, s]) => `${addr} ${s.toFixed(3)}`).join(", ")}`);
  const requestId = a.headers["x-request-id"];
  if (requestId !== undefined) out(`  request id:  ${requestId}`);
}

/** Forward the request to `pod` as Envoy's ORIGINAL_DST cluster would. */
async function forward(
  pod: string,
  req: ReturnType<typeof buildRequest>,
  timeoutMs: number,
): Promise<{ status: number; contentType: string; body: Buffer; ms: number }> {
  const started = performance.now();
  const res = await fetch(`http://${pod}${req.path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: req.body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "application/json",
    body,
    ms: performance.now() - started,
  };
}

/** Run `kvroute route` with `args`; resolves with the exit code. */
export async function runRoute(
  args: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  err: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
): Promise<number> {
  let o: RouteOptions | undefined;
  try {
    o = parseRouteArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`kvroute route: ${e.message}\n${ROUTE_USAGE}`);
    return 2;
  }
  if (o === undefined) {
    out(ROUTE_USAGE);
    return 0;
  }
  const req = buildRequest(o);
  let conversation;
  try {
    conversation = await routeOnce({
      address: o.address,
      headers: req.headers,
      body: req.body,
      timeoutMs: o.timeoutMs,
    });
  } catch (e) {
    err(`kvroute route: no decision from kvroute at ${o.address}: ${(e as Error).message}`);
    err("  (is kvroute running there? `make run` starts it on 127.0.0.1:50052)");
    return 1;
  }
  const a = conversation.answer;
  if (a.t === "local-reply") {
    conversation.close();
    err(`kvroute at ${o.address} refused the request: HTTP ${a.status}`);
    for (const [k, v] of Object.entries(a.headers)) err(`  ${k}: ${v}`);
    if (a.body !== "") err(`  body: ${a.body}`);
    return 1;
  }
  printDecision(o, a, out);
  const pod = a.headers["target-pod"];
  if (!o.send || pod === undefined) {
    conversation.close();
    return 0;
  }
  let answer;
  try {
    answer = await forward(pod, req, o.timeoutMs);
  } catch (e) {
    conversation.close();
    err(`kvroute route: the pod at ${pod} did not answer: ${(e as Error).message}`);
    return 1;
  }
  let set;
  try {
    set = await conversation.respond(answer.status, answer.contentType, answer.body);
  } catch (e) {
    err(`kvroute route: kvroute failed on the pod's answer: ${(e as Error).message}`);
    return 1;
  }
  const name = set["target-pod"] === undefined ? "" : ` (pod name ${set["target-pod"]})`;
  out(`  pod answer:  HTTP ${answer.status} in ${answer.ms.toFixed(0)} ms${name}`);
  return answer.status < 400 ? 0 : 1;
}
