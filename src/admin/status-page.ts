/**
 * The live status page on the HTTP port: `/` and `/ui` serve the page (`status-page-html.ts`), `/ui/status.json`
 * what it polls: the fleet (the `/debug/state` document, compacted), routing activity from the status recorder, and
 * readiness. Read-only (the admin server answers GET and HEAD only), no prompt text, nothing about who sent a
 * request.
 *
 * With a token, both need `Authorization: Bearer <token>`. The comparison hashes both sides first, so
 * `timingSafeEqual` compares equal-length digests and neither the token's bytes nor its length leak through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { debugState } from "./debug-state";
import type { DebugStateDeps } from "./debug-state";
import { fleetOf } from "./status-fleet";
import { STATUS_LOADER_HTML, STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./status-page-html";
import type { StatusRecorder } from "./status-recorder";

/** Paths the page answers on. */
export const STATUS_PAGE_PATHS: ReadonlySet<string> = new Set(["/", "/ui"]);
/** What the page polls. */
export const STATUS_JSON_PATH = "/ui/status.json";

/** The status page's part of the admin server's dependencies. */
export interface StatusPageDeps {
  readonly recorder: StatusRecorder;
  /** Bearer token both the page and its JSON need; undefined: open (like `/debug/state`). */
  readonly token: string | undefined;
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** Whether `authorization` carries `token` (always true without a token). */
function authorized(token: Buffer | undefined, authorization: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
  // Hash even a missing header, so answering a bad header takes as long as answering a wrong token.
  return timingSafeEqual(digest(m?.[1] ?? ""), token) && m !== null;
}

const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
} as const;

function write(
  res: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string>,
): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The JSON the page polls. */
export function statusDocument(deps: DebugStateDeps, recorder: StatusRecorder): Record<string, unknown> {
  const state = debugState(deps);
  const { rows, totals } = fleetOf(state);
  const { window, recent } = recorder.activity();
  return {
    generatedAt: new Date().toISOString(),
    ready: state.ready,
    draining: state.draining,
    defaultStrategy: state.routing.defaultStrategy,
    totals,
    fleet: rows,
    window,
    recent,
  };
}

/**
 * Answer `path` if it is one of the page's; false when it is not (the caller goes on routing). The caller has
 * already refused every method but GET and HEAD.
 */
export function createStatusPageHandler(
  page: StatusPageDeps,
  state: DebugStateDeps,
): (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const token = page.token === undefined ? undefined : digest(page.token);
  const html = { "content-type": "text/html; charset=utf-8", "content-security-policy": STATUS_PAGE_CSP };
  const unauthorized = { "www-authenticate": 'Bearer realm="kvroute-status"' };
  return (path, req, res) => {
    const ok = (): boolean => authorized(token, req.headers.authorization);
    if (STATUS_PAGE_PATHS.has(path)) {
      if (ok()) write(res, 200, STATUS_PAGE_HTML, html);
      else write(res, 401, STATUS_LOADER_HTML, { ...html, ...unauthorized });
      return true;
    }
    if (path === STATUS_JSON_PATH) {
      if (ok())
        write(res, 200, JSON.stringify(statusDocument(state, page.recorder)), {
          "content-type": "application/json",
        });
      else
        write(res, 401, JSON.stringify({ error: "unauthorized" }), {
          "content-type": "application/json",
          ...unauthorized,
        });
      return true;
    }
    return false;
  };
}
