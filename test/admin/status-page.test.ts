/**
 * The status page's JSON and HTML over real loopback HTTP, with requests routed through the real gRPC ext_proc
 * harness: the fleet appears with /debug/state's passive health, recent decisions grow as requests finish, the
 * window counts decisions by strategy and shows the decisions' prefix hits in blocks (any prefix-aware strategy),
 * prompt text never appears, the optional token is required and compared, and the page can be turned off.
 */
import { debugPods, finishedLine } from "../extproc/harness-probes";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseHeaders,
  setHeaders,
  startHarness,
} from "../extproc/harness";
import type { Harness } from "../extproc/harness";

const PODS = [
  pod("p1", "10.0.0.1", ["m1"]),
  pod("p2", "10.0.0.2", ["m1"]),
  pod("p3", "10.0.0.3", ["m2"], false),
];
/** Appears in every prompt the tests route; must never come back from the HTTP port. */
const MARKER = "PROMPT-MARKER-7f3a9c";

interface StatusDoc {
  ready: boolean;
  defaultStrategy: string;
  totals: { pods: number; readyPods: number; inflight: number };
  fleet: {
    name: string;
    ready: boolean;
    inflight: number;
    blocks: { approximate: number | null };
    health: string | null;
  }[];
  window: {
    decisions: number;
    byStrategy: { strategy: string; decisions: number }[];
    fallbacks: number;
    fallbackReasons: Record<string, number>;
    prefix: { lookups: number; hitBlocks: number; lookupBlocks: number; hitRate: number | null };
    latencyMs: { p50: number | null; p99: number | null; max: number | null };
  };
  recent: {
    pod: string | null;
    strategy: string | null;
    model: string | null;
    prefix: { hitBlocks: number; lookupBlocks: number } | null;
    decisionMs: number | null;
    status: number | null;
    outcome: string;
    closeReason: string | null;
  }[];
}

/**
 * Route one chat request (optionally with a `routing-strategy`) and wait until kvroute has finished it. Without
 * `upstreamStatus` the client ends the stream before any response, as `kvroute route` without `--send` does:
 * passive health hears nothing about the pod.
 */
async function route(h: Harness, id: string, strategy?: string, upstreamStatus?: number): Promise<string> {
  const s = h.client.open();
  await s.exchange(
    headers({ ...CHAT_HEADERS, "x-request-id": id, ...(strategy ? { "routing-strategy": strategy } : {}) }),
  );
  const [r] = await s.exchange(body(chatBody("m1", `${MARKER} ${"shared prefix ".repeat(8)}`)));
  if (upstreamStatus !== undefined) await s.exchange(responseHeaders(upstreamStatus));
  s.cancel();
  await finishedLine(h, { requestId: id });
  return setHeaders(r)["target-pod"] ?? "";
}

async function get(h: Harness, path: string, auth?: string): Promise<Response> {
  return fetch(
    `http://127.0.0.1:${h.server.httpPort}${path}`,
    auth ? { headers: { authorization: auth } } : {},
  );
}

async function status(h: Harness, auth?: string): Promise<StatusDoc> {
  const res = await get(h, "/ui/status.json", auth);
  expect(res.status).toBe(200);
  return (await res.json()) as StatusDoc;
}

describe("status page, open", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  it("/ui/status.json shows the fleet before any request", async () => {
    const doc = await status(h);
    expect(doc.fleet.map((p) => [p.name, p.ready, p.inflight])).toEqual([
      ["p1", true, 0],
      ["p2", true, 0],
      ["p3", false, 0],
    ]);
    expect(doc).toMatchObject({ ready: true, defaultStrategy: "least-request" });
    expect(doc.totals).toMatchObject({ pods: 3, readyPods: 2, inflight: 0 });
    expect(doc.recent).toEqual([]);
    expect(doc.window.decisions).toBe(0);
    expect(doc.window.latencyMs).toEqual({ p50: null, p90: null, p99: null, max: null });
  });

  it("recent decisions grow as routed requests finish, newest first; the window counts them", async () => {
    const targets: string[] = [];
    for (let i = 0; i < 3; i++) targets.push(await route(h, `open-${i}`));
    const doc = await status(h);
    expect(doc.recent).toHaveLength(3);
    expect(doc.recent.map((d) => d.pod)).toEqual(
      targets.reverse().map((t) => (t.startsWith("10.0.0.1") ? "p1" : "p2")),
    );
    for (const d of doc.recent) {
      // Nothing looked a prefix up; the client ended the stream after the decision, so there is no status.
      expect(d).toMatchObject({
        strategy: "least-request",
        model: "m1",
        prefix: null,
        status: null,
        outcome: "cancelled",
        closeReason: "client-ended",
      });
      expect(typeof d.decisionMs).toBe("number");
    }
    expect(doc.window.decisions).toBe(3);
    expect(doc.window.byStrategy).toEqual([
      { strategy: "least-request", decisions: 3, perSecond: expect.any(Number) },
    ]);
    expect(doc.window.latencyMs.p50).not.toBeNull();
    expect(doc.window.latencyMs.max).toBeGreaterThanOrEqual(doc.window.latencyMs.p99 ?? Infinity);
  });

  it("prefix-cache: a first prompt hits no block (fallback no-prefix-match), the same prompt again all of them", async () => {
    await route(h, "prefix-0", "prefix-cache");
    await route(h, "prefix-1", "prefix-cache");
    const doc = await status(h);
    const [second, first] = doc.recent;
    const looked = first?.prefix?.lookupBlocks ?? 0;
    expect(looked).toBeGreaterThan(0);
    expect(first).toMatchObject({ strategy: "prefix-cache", prefix: { hitBlocks: 0, lookupBlocks: looked } });
    expect(second).toMatchObject({
      strategy: "prefix-cache",
      prefix: { hitBlocks: looked, lookupBlocks: looked },
    });
    expect(doc.window.prefix).toEqual({
      lookups: 2,
      hitBlocks: looked,
      lookupBlocks: 2 * looked,
      hitRate: 0.5,
    });
    expect(doc.window.fallbackReasons).toEqual({ "no-prefix-match": 1 });
    expect(doc.window.fallbacks).toBe(1);
    expect(doc.fleet.some((p) => (p.blocks.approximate ?? 0) > 0)).toBe(true);
  });

  it("a combined strategy with a prefix-aware part shows its lookup too", async () => {
    await route(h, "prefix-2", "prefix-cache:2,least-request");
    const doc = await status(h);
    expect(doc.recent[0]?.strategy).toBe("prefix-cache:2,least-request");
    expect(doc.recent[0]?.prefix?.lookupBlocks).toBe(doc.recent[1]?.prefix?.lookupBlocks);
    expect(doc.window.prefix.lookups).toBe(3);
  });

  it("passive health: /debug/state's, `no data` where it is null (nothing reported), never a guess", async () => {
    interface DebugPod {
      name: string;
      health: { state: string } | null;
    }
    // Every request so far ended before a response: passive health has heard nothing about any pod.
    const before = await debugPods<DebugPod>(h);
    expect(before.map((p) => [p.name, p.health])).toEqual([
      ["p1", null],
      ["p2", null],
      ["p3", null],
    ]);
    expect((await status(h)).fleet.map((p) => [p.name, p.health])).toEqual([
      ["p1", "no data"],
      ["p2", "no data"],
      ["p3", "no data"],
    ]);
    // One request the pod answered: that pod has a record now, the others still have none.
    const answered = (await route(h, "health-0", undefined, 200)).startsWith("10.0.0.1") ? "p1" : "p2";
    const pods = (await debugPods<DebugPod>(h)).sort((a, b) => a.name.localeCompare(b.name));
    expect(pods.find((p) => p.name === answered)?.health?.state).toBe("healthy");
    const doc = await status(h);
    expect(doc.fleet.map((p) => [p.name, p.health])).toEqual(
      pods.map((p) => [p.name, p.health === null ? "no data" : p.health.state]),
    );
    expect(doc.fleet.filter((p) => p.health === "no data")).toHaveLength(2);
  });

  it("never returns prompt text: not in the JSON, the page, or /debug/state", async () => {
    for (const path of ["/ui/status.json", "/", "/ui", "/debug/state"]) {
      const text = await (await get(h, path)).text();
      expect([path, text.includes(MARKER)]).toEqual([path, false]);
    }
  });

  it("/ and /ui serve the self-contained page: no external URL, a CSP allowing only its own inline code", async () => {
    for (const path of ["/", "/ui"]) {
      const res = await get(h, path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("connect-src 'self'");
      const html = await res.text();
      expect(html).toContain('id="fleet"');
      expect(html).toContain('fetch("ui/status.json"');
      expect(html).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//i);
      expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML/);
    }
  });

  it("is read-only: other methods get 405", async () => {
    for (const path of ["/", "/ui/status.json"]) {
      const res = await fetch(`http://127.0.0.1:${h.server.httpPort}${path}`, { method: "POST", body: "{}" });
      expect(res.status).toBe(405);
    }
  });
});

describe("status page with KVROUTE_STATUS_PAGE_TOKEN", () => {
  const TOKEN = "st4tus-t0ken";
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, [], { KVROUTE_STATUS_PAGE_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([
    ["no header", undefined],
    ["a wrong token of the same length", `Bearer ${"x".repeat(TOKEN.length)}`],
    ["a longer token", `Bearer ${TOKEN}x`],
    ["a prefix of the token", `Bearer ${TOKEN.slice(0, 4)}`],
    ["another scheme", `Basic ${TOKEN}`],
    ["the bare token", TOKEN],
  ])("refuses %s with 401, on the JSON and the page", async (_what, auth) => {
    const json = await get(h, "/ui/status.json", auth);
    expect(json.status).toBe(401);
    expect(json.headers.get("www-authenticate")).toBe('Bearer realm="kvroute-status"');
    expect(await json.json()).toEqual({ error: "unauthorized" });
    const page = await get(h, "/", auth);
    expect(page.status).toBe(401);
    const html = await page.text();
    // The 401 page is only the fragment-token loader: no fleet, no page script.
    expect(html).toContain("#token=");
    expect(html).not.toContain("p1");
    expect(html).not.toContain("ui/status.json");
  });

  it("accepts the token (scheme in any case) on the JSON and the page", async () => {
    await route(h, "tok-0");
    for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
      const doc = await status(h, auth);
      expect(doc.fleet.map((p) => p.name)).toEqual(["p1", "p2", "p3"]);
      expect(doc.recent).toHaveLength(1);
      expect((await get(h, "/ui", auth)).status).toBe(200);
    }
  });

  it("leaves the other admin paths as they were", async () => {
    expect((await get(h, "/healthz")).status).toBe(200);
    expect((await get(h, "/debug/state")).status).toBe(200);
  });
});

describe("status page turned off (--status-page=false)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--status-page=false"]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("answers 404 on its paths and routing still works", async () => {
    for (const path of ["/", "/ui", "/ui/status.json"]) expect((await get(h, path)).status).toBe(404);
    expect(await route(h, "off-0")).toMatch(/^10\.0\.0\.[12]:8000$/);
    expect((await get(h, "/healthz")).status).toBe(200);
  });
});
