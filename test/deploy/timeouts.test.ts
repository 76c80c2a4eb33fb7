/**
 * One timeout budget across every config kvroute ships, checked against kvroute's own defaults so they cannot drift
 * apart again: Envoy's ext_proc message timeout must outlast kvroute's longest wait before it answers (the SLO
 * strategies' queue wait, KVROUTE_SLO_QUEUE_MAX_WAIT_MS) plus a margin, or Envoy fails a queued request with its own
 * error; and the routes to the chosen pod give a streamed generation one budget (whole response / each gap) in
 * every config. Sources: envoy/ (every file, every ExternalProcessor and EnvoyExtensionPolicy found in it) and the
 * chart, rendered by helm.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config";
import type { Config } from "../../src/config";
import { at, CHART, ofKind, renderChart, ROOT } from "./helm-render";
import type { Obj } from "./helm-render";

/** Time for kvroute's reply to reach Envoy after the longest wait ends (a 503 is written at once; this is slack). */
const MARGIN_MS = 10_000;
const ENVOY_DIR = path.join(ROOT, "envoy");
/** Envoy's message_timeout when unset. */
const ENVOY_DEFAULT_MESSAGE_TIMEOUT_MS = 200;

const loaded = loadConfig([], {});
if ("help" in loaded) throw new Error("loadConfig([], {}) asked for help");
const defaults: Config = loaded;
/**
 * kvroute's longest wait before it answers a request-body message, by its own defaults: the flow-control queue's
 * TTL, then the SLO strategies' headroom wait.
 */
const longestWaitMs = (defaults.flowControl ? defaults.flowTtlMs : 0) + defaults.sloQueueMaxWaitMs;

/** A duration as Envoy's JSON ("60s", "0.5s") or Gateway API / Envoy Gateway ("60s", "1m30s", "500ms") write it, in ms. */
function durationMs(text: unknown): number {
  const s = String(text);
  const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== s) throw new Error(`not a duration: ${s}`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] as string] as number), 0);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}
const docsOf = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

/** Every object under `root` (depth first), with a path for messages. */
function* walk(root: unknown, where: string): Generator<[Obj, string]> {
  if (Array.isArray(root)) {
    for (const [i, v] of root.entries()) yield* walk(v, `${where}[${i}]`);
  } else if (typeof root === "object" && root !== null) {
    yield [root as Obj, where];
    for (const [k, v] of Object.entries(root)) yield* walk(v, `${where}.${k}`);
  }
}

interface Found {
  where: string;
  ms: number;
}

/** ext_proc message timeouts: Envoy ExternalProcessor configs and Envoy Gateway EnvoyExtensionPolicies. */
function messageTimeouts(objs: Obj[], source: string): Found[] {
  const found: Found[] = [];
  for (const [o, where] of walk(objs, source)) {
    if (String(o["@type"]).endsWith("envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor")) {
      const t = o["message_timeout"];
      found.push({ where, ms: t === undefined ? ENVOY_DEFAULT_MESSAGE_TIMEOUT_MS : durationMs(t) });
    }
    if (o["kind"] === "EnvoyExtensionPolicy") {
      for (const [i, p] of ((at(o, "spec", "extProc") ?? []) as Obj[]).entries()) {
        const t = p["messageTimeout"];
        found.push({
          where: `${where}.spec.extProc[${i}]`,
          ms: t === undefined ? ENVOY_DEFAULT_MESSAGE_TIMEOUT_MS : durationMs(t),
        });
      }
    }
  }
  return found;
}

/** Route timeouts towards the chosen pod: Envoy routes to an ORIGINAL_DST cluster, Istio/Gateway API routes. */
function routeTimeouts(objs: Obj[], source: string): { total: Found[]; idle: Found[] } {
  const total: Found[] = [];
  const idle: Found[] = [];
  for (const [o, where] of walk(objs, source)) {
    const cluster = String(o["cluster"] ?? "");
    if (cluster.startsWith("original_destination_cluster") && o["timeout"] !== undefined) {
      total.push({ where, ms: durationMs(o["timeout"]) });
      if (o["idle_timeout"] !== undefined) idle.push({ where, ms: durationMs(o["idle_timeout"]) });
    }
    if (cluster.startsWith("original_destination_cluster") && o["timeout"] === undefined && o["idle_timeout"])
      idle.push({ where, ms: durationMs(o["idle_timeout"]) });
    if (o["kind"] === "VirtualService")
      for (const [i, r] of ((at(o, "spec", "http") ?? []) as Obj[]).entries())
        if (r["timeout"] !== undefined)
          total.push({ where: `${where}.spec.http[${i}]`, ms: durationMs(r["timeout"]) });
    if (o["kind"] === "HTTPRoute")
      for (const [i, r] of ((at(o, "spec", "rules") ?? []) as Obj[]).entries())
        if (at(r, "timeouts", "request") !== undefined)
          total.push({ where: `${where}.spec.rules[${i}]`, ms: durationMs(at(r, "timeouts", "request")) });
  }
  return { total, idle };
}

const shipped = yamlFiles(ENVOY_DIR).map((f) => ({ source: path.relative(ROOT, f), objs: docsOf(f) }));
let chart: Obj[];
beforeAll(async () => {
  chart = await renderChart(["--set", "envoyGateway.enabled=true"]);
}, 60_000);
const everySource = (): { source: string; objs: Obj[] }[] => [
  ...shipped,
  { source: "charts/kvroute", objs: chart },
];

describe("timeouts: kvroute's defaults against every shipped config", () => {
  it("kvroute's longest wait before it answers is the flow TTL plus the SLO queue wait (45 s by default)", () => {
    expect(longestWaitMs).toBe(45_000);
  });

  it("finds an ext_proc message timeout in each config that configures ext_proc", () => {
    const sources = everySource()
      .filter(({ source, objs }) => messageTimeouts(objs, source).length > 0)
      .map((s) => s.source)
      .sort();
    expect(sources).toEqual(
      expect.arrayContaining([
        "charts/kvroute",
        "envoy/envoy-gateway/extension-policy.yaml",
        "envoy/envoy.yaml",
        "envoy/istio/envoyfilter.yaml",
      ]),
    );
  });

  it("every ext_proc message timeout outlasts kvroute's longest wait plus the margin", () => {
    const short = everySource()
      .flatMap(({ source, objs }) => messageTimeouts(objs, source))
      .filter((f) => f.ms < longestWaitMs + MARGIN_MS);
    expect(short).toEqual([]);
  });

  it("values.yaml's messageTimeout is the one the chart renders", () => {
    const values = docsOf(path.join(CHART, "values.yaml"))[0] as Obj;
    const policy = ofKind(chart, "EnvoyExtensionPolicy")[0];
    expect(at(policy, "spec", "extProc", 0, "messageTimeout")).toBe(
      at(values, "envoyGateway", "extProc", "messageTimeout"),
    );
  });

  it("every route to the chosen pod has one budget for a streamed response, longer than the ext_proc wait", () => {
    const all = everySource().map(({ source, objs }) => routeTimeouts(objs, source));
    const total = all.flatMap((r) => r.total);
    const idle = all.flatMap((r) => r.idle);
    // envoy.yaml, the EnvoyPatchPolicy (file and chart), the Istio VirtualService, the InferencePool's HTTPRoute.
    expect(total.length).toBeGreaterThanOrEqual(5);
    expect(idle.length).toBeGreaterThanOrEqual(4);
    expect(new Set(total.map((f) => f.ms))).toEqual(new Set([600_000]));
    expect(new Set(idle.map((f) => f.ms))).toEqual(new Set([300_000]));
    expect(total.filter((f) => f.ms < longestWaitMs + MARGIN_MS)).toEqual([]);
  });

  it("envoy.yaml: the connection manager's idle and request timeouts do not cut the ext_proc wait", () => {
    const hcm = [...walk(docsOf(path.join(ENVOY_DIR, "envoy.yaml")), "envoy.yaml")]
      .map(([o]) => o)
      .find((o) => String(o["@type"]).endsWith("HttpConnectionManager")) as Obj;
    expect(durationMs(hcm["stream_idle_timeout"])).toBeGreaterThanOrEqual(longestWaitMs + MARGIN_MS);
    expect(durationMs(hcm["request_timeout"])).toBeGreaterThanOrEqual(longestWaitMs + MARGIN_MS);
  });

  it("durations parse as Envoy and Gateway API write them, and nonsense does not", () => {
    expect([durationMs("60s"), durationMs("0.5s"), durationMs("1m30s"), durationMs("250ms")]).toEqual([
      60_000, 500, 90_000, 250,
    ]);
    expect(() => durationMs("60")).toThrow("not a duration");
  });
});

describe("timeouts: the chart refuses a message timeout that would cut the queue wait", () => {
  const fails = async (...args: string[]): Promise<string> => {
    try {
      await renderChart(["--set", "envoyGateway.enabled=true", ...args]);
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err);
    }
    throw new Error(`rendered with ${args.join(" ")}`);
  };

  it("below kvroute's default wait plus 10 s", async () => {
    expect(await fails("--set", "envoyGateway.extProc.messageTimeout=39s")).toContain(
      "must exceed kvroute's longest queue wait",
    );
  });

  it("below a queue wait raised through config, and accepted once raised with it", async () => {
    const wait = ["--set", "config.KVROUTE_SLO_QUEUE_MAX_WAIT_MS=90000"];
    expect(await fails(...wait)).toContain(
      "(config.KVROUTE_FLOW_TTL_MS + config.KVROUTE_SLO_QUEUE_MAX_WAIT_MS, 105000 ms)",
    );
    const objs = await renderChart([
      "--set",
      "envoyGateway.enabled=true",
      ...wait,
      "--set",
      "envoyGateway.extProc.messageTimeout=1m55s",
    ]);
    expect(at(ofKind(objs, "EnvoyExtensionPolicy")[0], "spec", "extProc", 0, "messageTimeout")).toBe("1m55s");
  });

  it("with flow control off, the flow TTL no longer counts", async () => {
    const short = ["--set", "envoyGateway.extProc.messageTimeout=40s"];
    expect(await fails(...short)).toContain("45000 ms");
    const objs = await renderChart([
      "--set",
      "envoyGateway.enabled=true",
      "--set",
      "config.KVROUTE_FLOW_CONTROL=false",
      ...short,
    ]);
    expect(at(ofKind(objs, "EnvoyExtensionPolicy")[0], "spec", "extProc", 0, "messageTimeout")).toBe("40s");
  });

  it("a message timeout that is not a duration", async () => {
    expect(await fails("--set", "envoyGateway.extProc.messageTimeout=soon")).toContain("want a duration");
  });
});
