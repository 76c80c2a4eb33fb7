/**
 * The stop sequence, built for rollouts. Readiness going NOT_SERVING is only a request to the load balancers: Envoy
 * (through EDS, its own health checks, or kube-proxy behind a Service) needs a few seconds to move new streams
 * elsewhere, and until it has, refusing them turns every rollout into errors. So:
 *
 * 1. readiness goes NOT_SERVING at once, and new connections and streams are still served normally for
 *    `delayMs`;
 * 2. then the gRPC listener closes (new connections are refused) and every open connection gets a GOAWAY (HTTP/2's
 *    "open new streams elsewhere"; behind a Service this is what moves Envoy's pinned connection to a ready replica).
 *    A request still reaching kvroute now — on a stream opened before the GOAWAY — is answered with the 503
 *    envelope (`x-error-draining`), and so is every request read but not yet routed (tokenizing, awaiting its
 *    admission check or a pod with headroom: its stream's signal aborts, which drops its queued work); streams
 *    already routed finish;
 * 3. streams still open `timeoutMs` after the listener closed are cut (recorded as `shutdown`);
 * 4. everything else closes — every disposer the start registered (`src/lifecycle.ts`), each even when another
 *    fails to.
 *
 * `hurry()` (a second SIGTERM/SIGINT) ends the delay and the wait for open streams at once.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { CloseFailure } from "./closing";
import type { ExtProcService } from "./extproc";
import type { Logger } from "./observability";

/** How long each step of a drain may take. */
export interface DrainPlan {
  /** Keep serving new streams this long after readiness went NOT_SERVING, ms. */
  readonly delayMs: number;
  /** Then, with the listener closed, how long open streams may finish before they are cut, ms. */
  readonly timeoutMs: number;
}

/** What the drain acts on. */
export interface DrainDeps {
  readonly log: Logger;
  readonly grpcServer: grpc.Server;
  readonly extProc: ExtProcService;
  /** Step 1: readiness off. */
  readonly readinessOff: () => void;
  /** Step 2: from now on new requests, and those read but not yet routed, get the 503 envelope. */
  readonly refuseNewRequests: () => void;
  /** Step 4, once no stream is open: run every registered disposer; failures go to `onFailure`. Never rejects. */
  readonly dispose: (onFailure: CloseFailure) => Promise<void>;
}

/** A server's drain. */
export interface Drain {
  /** Run the sequence; resolves when everything is closed. Idempotent (later calls return the first run). */
  run(plan: DrainPlan): Promise<void>;
  /** Skip what is left of the delay and of the wait for open streams. */
  hurry(): void;
}

/** Create the drain of one server. */
export function createDrain(deps: DrainDeps): Drain {
  const { log, grpcServer, extProc } = deps;
  let hurryNow = (): void => undefined;
  const hurried = new Promise<"hurried">((resolve) => (hurryNow = () => resolve("hurried")));
  let running: Promise<void> | undefined;

  /**
   * Wait `ms`, or less when hurried or when `stop` aborts (the caller no longer needs the wait: its timer must not
   * outlive it, or a drained in-process server would keep the process alive until the deadline).
   */
  async function wait(ms: number, stop?: AbortSignal): Promise<"elapsed" | "hurried" | "stopped"> {
    let timer: NodeJS.Timeout | undefined;
    let onStop = (): void => undefined;
    const elapsed = new Promise<"elapsed">((resolve) => (timer = setTimeout(() => resolve("elapsed"), ms)));
    const stopped = new Promise<"stopped">((resolve) => (onStop = () => resolve("stopped")));
    stop?.addEventListener("abort", onStop, { once: true });
    try {
      return await Promise.race([elapsed, hurried, stopped]);
    } finally {
      clearTimeout(timer);
      stop?.removeEventListener("abort", onStop);
    }
  }

  async function run(plan: DrainPlan): Promise<void> {
    deps.readinessOff();
    log.info(
      { delayMs: plan.delayMs, timeoutMs: plan.timeoutMs, openStreams: extProc.activeStreams() },
      "drain: readiness NOT_SERVING; still serving new streams until the delay ends",
    );
    if (plan.delayMs > 0 && (await wait(plan.delayMs)) === "hurried")
      log.info({}, "drain: hurried; delay skipped");
    deps.refuseNewRequests();
    const graceful = new Promise<"graceful">((resolve) => grpcServer.tryShutdown(() => resolve("graceful")));
    log.info(
      { openStreams: extProc.activeStreams(), timeoutMs: plan.timeoutMs },
      "drain: delay over; listener closed, GOAWAY sent, open streams finishing",
    );
    const deadline = new AbortController();
    const first = await Promise.race([graceful, wait(plan.timeoutMs, deadline.signal)]);
    deadline.abort();
    if (first !== "graceful") {
      log.warn(
        { openStreams: extProc.activeStreams(), hurried: first === "hurried" },
        "drain deadline reached; cutting open streams",
      );
      extProc.markShutdown();
      grpcServer.forceShutdown();
    }
    await extProc.idle();
    log.info({}, "drain: no stream open; closing");
    await deps.dispose((piece, error) =>
      log.error(
        { piece, error: error instanceof Error ? error.message : String(error) },
        "drain: close failed",
      ),
    );
  }

  return {
    run: (plan) => (running ??= run(plan)),
    hurry: () => hurryNow(),
  };
}
