/**
 * The resilience benchmark's drivers: one hostile conversation classified by its outcome, and thousands of
 * conversations held open at once. Both speak raw gRPC (identity serializers) so malformed messages reach the
 * server exactly as written.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { ProcessingResponse } from "../src/extproc/messages";
import { EXT_PROC_PROCESS_PATH } from "../src/extproc/proto";
import { RawStream } from "./extproc-client";
import { SPOOFED_TARGET } from "./resilience-fuzz";
import type { FuzzCase } from "./resilience-fuzz";

/** How long one case may take before it counts as unanswered (a stall is a finding, not a wait). */
const CASE_TIMEOUT_MS = 15_000;

/** What a server's reply says about routing. */
export interface DecisionCheck {
  readonly decode: (b: Buffer) => ProcessingResponse;
  readonly validTargets: ReadonlySet<string>;
}

/**
 * The outcome of one case: `routed`, `immediate-<http status>`, `grpc-<status name>`, `replied` (answers without a
 * decision, stream left open), or the findings `SPOOFED-TARGET` (a client-chosen pod honoured), `BAD-TARGET` (a
 * pod outside the fleet) and `UNANSWERED` (no reply within the timeout).
 */
export type Outcome = string;

/** The routing headers of a reply, if it carries a decision. */
function decisionTarget(reply: ProcessingResponse): string | undefined {
  const phase = reply.request_body ?? reply.request_headers;
  const set = phase?.response?.header_mutation?.set_headers ?? [];
  for (const h of set) {
    if (h.header.key === "target-pod" || h.header.key === "x-gateway-destination-endpoint") {
      const raw = h.header.raw_value;
      return Buffer.from(raw).toString("latin1");
    }
  }
  return undefined;
}

/** Write every message of `c` on a fresh stream, read what comes back, and classify it. */
export async function runCase(client: grpc.Client, c: FuzzCase, check: DecisionCheck): Promise<Outcome> {
  const identity = (b: Buffer): Buffer => b;
  const call = client.makeBidiStreamRequest(EXT_PROC_PROCESS_PATH, identity, identity);
  let outcome: Outcome | undefined;
  let replies = 0;
  let decided = false;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<Outcome>((resolve) => {
    const finish = (o: Outcome): void => {
      if (outcome !== undefined) return;
      outcome = o;
      resolve(o);
    };
    call.on("data", (b: Buffer) => {
      replies += 1;
      let reply: ProcessingResponse;
      try {
        reply = check.decode(b);
      } catch {
        finish("MALFORMED-REPLY");
        return;
      }
      if (reply.immediate_response) {
        finish(`immediate-${reply.immediate_response.status.code}`);
        return;
      }
      const target = decisionTarget(reply);
      if (target !== undefined) {
        decided = true;
        if (target === SPOOFED_TARGET) finish("SPOOFED-TARGET");
        else if (!check.validTargets.has(target)) finish("BAD-TARGET");
      }
      if (replies >= c.messages.length) finish(decided ? "routed" : "replied");
    });
    call.on("error", () => undefined);
    call.on("status", (s: grpc.StatusObject) =>
      finish(s.code === grpc.status.OK ? (decided ? "routed" : "replied") : `grpc-${grpc.status[s.code]}`),
    );
    timer = setTimeout(() => finish(decided ? "routed" : "UNANSWERED"), CASE_TIMEOUT_MS);
  });
  for (const m of c.messages) {
    if (outcome !== undefined) break;
    if (!call.write(m)) await new Promise((resolve) => call.once("drain", resolve));
  }
  const result = await done;
  clearTimeout(timer);
  call.cancel();
  return result;
}

/** What {@link holdStreams} saw. */
export interface HeldStreams {
  readonly opened: number;
  readonly headersAnswered: number;
  readonly decided: number;
  readonly errors: ReadonlyMap<string, number>;
  readonly seconds: number;
}

/**
 * Open `count` streams spread over `clients`, send each its request headers and wait until every one is answered
 * (all are open at once), then send every body and wait for every decision, then end them all. Messages come from
 * `headers(i)` and `body`.
 */
export async function holdStreams(
  clients: readonly grpc.Client[],
  count: number,
  headers: (i: number) => Buffer,
  body: Buffer,
  check: DecisionCheck,
): Promise<HeldStreams> {
  const t0 = performance.now();
  const identity = (b: Buffer): Buffer => b;
  const errors = new Map<string, number>();
  const fail = (why: string): void => {
    errors.set(why, (errors.get(why) ?? 0) + 1);
  };
  const streams: RawStream[] = [];
  for (let i = 0; i < count; i++) {
    const client = clients[i % clients.length];
    if (client)
      streams.push(new RawStream(client.makeBidiStreamRequest(EXT_PROC_PROCESS_PATH, identity, identity)));
  }
  const first = await Promise.all(streams.map((s, i) => withTimeout(s.exchange(headers(i)))));
  const answered = first.filter((r) => r !== undefined).length;
  if (answered < count) fail("request_headers unanswered");
  const second = await Promise.all(
    streams.map((s, i) =>
      first[i] === undefined ? Promise.resolve(undefined) : withTimeout(s.exchange(body)),
    ),
  );
  let decided = 0;
  for (const r of second) {
    if (r === undefined) continue;
    const target = decisionTarget(check.decode(r));
    if (target !== undefined && check.validTargets.has(target)) decided += 1;
    else fail(target === undefined ? "no decision" : "bad target");
  }
  for (const s of streams) s.call.cancel();
  return {
    opened: streams.length,
    headersAnswered: answered,
    decided,
    errors,
    seconds: (performance.now() - t0) / 1000,
  };
}

function withTimeout(p: Promise<Buffer | undefined>): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), CASE_TIMEOUT_MS * 4);
    void p.then((r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
}
