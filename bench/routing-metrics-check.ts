/**
 * The routing benchmark's check of what kvroute exports: at the end of each strategy's run, before its replicas
 * stop, one replica's `/metrics` is scraped, linted with `promtool check metrics` when promtool is on PATH (else
 * reported as not checked, never as clean), and searched for samples of the request-level families. The checks of
 * all strategies are folded into one result for the report and its one printed line: a prefix family has samples
 * only under a prefix-aware strategy, so presence is over the whole run.
 *
 * @module
 */
import { execFile } from "node:child_process";

/** The request-level families (docs/observability.md) a run should make visible. */
export const REQUEST_FAMILIES = [
  "kvroute_routed_requests_total",
  "kvroute_time_to_first_token_seconds",
  "kvroute_request_duration_seconds",
  "kvroute_time_per_output_token_seconds",
  "kvroute_prompt_tokens",
  "kvroute_completion_tokens",
  "kvroute_prefix_hit_blocks_total",
  "kvroute_prefix_lookup_blocks_total",
] as const;

/** Lines of promtool output kept per run: enough to see what is wrong, bounded whatever the page holds. */
const MAX_PROBLEMS = 20;

/** promtool's verdict: `clean`, `problems` (its output lines), or `not-checked` (not on PATH). */
export type PromtoolVerdict =
  | { readonly t: "clean" }
  | { readonly t: "problems"; readonly lines: readonly string[] }
  | { readonly t: "not-checked"; readonly why: string };

/** What the run's metrics checks found. */
export interface MetricsCheck {
  /** Scrapes checked (one per strategy). */
  readonly scrapes: number;
  readonly promtool: PromtoolVerdict;
  /** Families of {@link REQUEST_FAMILIES} with samples in at least one scrape, in that order. */
  readonly present: readonly string[];
  /** Families of {@link REQUEST_FAMILIES} with samples in no scrape. */
  readonly missing: readonly string[];
}

/** One scrape's findings. */
export interface ScrapeCheck {
  readonly promtool: PromtoolVerdict;
  readonly present: ReadonlySet<string>;
}

/** Whether `text` holds a sample of `family` (a histogram's by its `_count`, `_sum` or `_bucket` lines). */
function hasSamples(text: string, family: string): boolean {
  return new RegExp(`^${family}(?:_bucket|_sum|_count)?[{ ]`, "m").test(text);
}

/** `promtool check metrics` on `text`; `not-checked` when promtool cannot be started. */
export function runPromtoolCheck(text: string, bin = "promtool"): Promise<PromtoolVerdict> {
  return new Promise((resolve) => {
    const child = execFile(bin, ["check", "metrics"], (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === "ENOENT") {
        resolve({ t: "not-checked", why: "promtool is not on PATH" });
        return;
      }
      const lines = `${stdout}${stderr}`
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
      // promtool exits non-zero for any lint problem; a clean page prints nothing.
      resolve(err === null && lines.length === 0 ? { t: "clean" } : { t: "problems", lines });
    });
    // A promtool that fails to start never reads its input: the write's EPIPE is not the verdict.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(text);
  });
}

/** Scrape kvroute's `/metrics` on `httpPort` and check it. */
export async function checkScrape(httpPort: number, bin?: string): Promise<ScrapeCheck> {
  const res = await fetch(`http://127.0.0.1:${String(httpPort)}/metrics`);
  const text = await res.text();
  if (!res.ok)
    return { promtool: { t: "problems", lines: [`/metrics answered ${res.status}`] }, present: new Set() };
  const present = new Set(REQUEST_FAMILIES.filter((f) => hasSamples(text, f)));
  return { promtool: await runPromtoolCheck(text, bin), present };
}

/** Fold the scrapes' checks: problems win over not-checked, which wins over clean; presence is a union. */
export function foldChecks(checks: readonly ScrapeCheck[]): MetricsCheck {
  const problems = checks.flatMap((c) => (c.promtool.t === "problems" ? c.promtool.lines : []));
  const unchecked = checks.find((c) => c.promtool.t === "not-checked")?.promtool;
  const promtool: PromtoolVerdict =
    problems.length > 0
      ? { t: "problems", lines: [...new Set(problems)].slice(0, MAX_PROBLEMS) }
      : (unchecked ?? (checks.length > 0 ? { t: "clean" } : { t: "not-checked", why: "nothing scraped" }));
  const present = REQUEST_FAMILIES.filter((f) => checks.some((c) => c.present.has(f)));
  const missing = REQUEST_FAMILIES.filter((f) => !present.includes(f));
  return { scrapes: checks.length, promtool, present, missing };
}

/** The report's one line, e.g. `metrics: promtool clean; kvroute_routed_requests_total, … present`. */
export function formatMetricsCheck(m: MetricsCheck): string {
  const verdict =
    m.promtool.t === "clean"
      ? "promtool clean"
      : m.promtool.t === "not-checked"
        ? `promtool not checked (${m.promtool.why})`
        : `promtool found problems: ${m.promtool.lines.join(" | ")}`;
  const present = m.present.length > 0 ? `${m.present.join(", ")} present` : "no request families present";
  const missing = m.missing.length > 0 ? `; missing: ${m.missing.join(", ")}` : "";
  return `metrics: ${verdict}; ${present}${missing}`;
}
