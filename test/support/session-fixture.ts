/**
 * The ext_proc session built in memory, without gRPC: the body limits and modes every session test uses, and a
 * factory for fresh sessions wired to a router (usually `fleetDirector` from director-fixture.ts). Tests that need
 * more (an admission check, a prompt stream, a spying router) pass those deps as `extra`.
 *
 * @module
 */
import { createSession } from "../../src/extproc/session";
import type { Router, Session, SessionDeps, SessionHooks, SessionOptions } from "../../src/extproc/session";
import { endpointForPath, parseRequest } from "../../src/request";

/** Buffered request bodies up to 1 MiB, streamed responses: the modes a default deployment runs with. */
export const SESSION_OPTIONS: SessionOptions = {
  maxBodyBytes: 1 << 20,
  requestBodyMode: "BUFFERED",
  responseBodyMode: "STREAMED",
  sendBodyWithoutWaitingForHeaderResponse: false,
  maxResponseBufferBytes: 1 << 16,
};

/** What differs between session tests; the rest of {@link SessionDeps} is fixed. */
export interface SessionFixtureOptions {
  readonly router: Router;
  readonly hooks?: SessionHooks;
  /** Default: a clock that never moves (0). */
  readonly now?: () => number;
  /** Further deps (admission, streamPrompt, …) merged over the fixed ones. */
  readonly extra?: Partial<SessionDeps>;
}

/** A factory of fresh sessions sharing `options`' router, hooks and clock. */
export function sessionFactory(options: SessionFixtureOptions): () => Session {
  return () =>
    createSession({
      options: SESSION_OPTIONS,
      router: options.router,
      parse: (path, b) => parseRequest(path, b, { maxBodyBytes: SESSION_OPTIONS.maxBodyBytes }),
      endpointKnown: (path) => endpointForPath(path) !== undefined,
      isDraining: () => false,
      apiKey: undefined,
      hooks: options.hooks ?? {},
      now: options.now ?? (() => 0),
      ...options.extra,
    });
}

/** A clock that advances 1 ms each time it is read, so every record has a distinct start and end. */
export function tickingClock(): () => number {
  let t = 0;
  return () => (t += 1);
}
