/**
 * Goal rows: every benchmark that backs a stated goal prints the goal next to what it measured, the ratio that
 * the goal is stated in, and PASS/FAIL, in one format (`formatGoalTable`), so the README's table can be pasted from
 * any run. A row that cannot be measured in this run says so (`pass: undefined` prints `n/a` with its note).
 *
 * @module
 */

/** Which way a goal points. */
export type GoalDirection = "at-most" | "at-least";

/** One goal and what this run measured against it. */
export interface GoalRow {
  /** What is measured, e.g. "server CPU / conversation, chat-1k, prefix-cache, 16 pods ÷ floor". */
  readonly measure: string;
  /** The bound, in the same unit as `measured`. */
  readonly goal: number;
  readonly direction: GoalDirection;
  /** The measured value; undefined when it could not be measured (then `note` says why). */
  readonly measured: number | undefined;
  /** Unit printed after both numbers ("×", "ms", "req/s", "B", "M/s", "% core"). */
  readonly unit: string;
  /** Run-to-run spread of `measured` when known (e.g. min–max over slices), printed as-is. */
  readonly spread?: string;
  /** Why a row fails or could not run, or what it depends on. */
  readonly note?: string;
}

/** Whether `row` meets its goal; undefined when nothing was measured. */
export function passes(row: GoalRow): boolean | undefined {
  if (row.measured === undefined || !Number.isFinite(row.measured)) return undefined;
  return row.direction === "at-most" ? row.measured <= row.goal : row.measured >= row.goal;
}

function num(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** The row's verdict word. */
export function verdict(row: GoalRow): "PASS" | "FAIL" | "n/a" {
  const p = passes(row);
  return p === undefined ? "n/a" : p ? "PASS" : "FAIL";
}

/** A fixed-width table: measure | goal | measured | spread | verdict, then notes under it. */
export function formatGoalTable(title: string, rows: readonly GoalRow[]): string {
  const cells = rows.map((r) => [
    r.measure,
    `${r.direction === "at-most" ? "≤" : "≥"} ${num(r.goal)} ${r.unit}`,
    r.measured === undefined ? "—" : `${num(r.measured)} ${r.unit}`,
    r.spread ?? "",
    verdict(r),
  ]);
  const head = ["measure", "goal", "measured", "spread", "verdict"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: readonly string[]): string => c.map((s, i) => s.padEnd(widths[i] ?? 0)).join("  ");
  const out = [`== goals: ${title}`, line(head), line(widths.map((w) => "-".repeat(w)))];
  for (const c of cells) out.push(line(c));
  rows.forEach((r, i) => {
    if (r.note !== undefined) out.push(`  [${i + 1}] ${r.note}`);
  });
  return out.join("\n") + "\n";
}

/** The rows as a Markdown table (for the README). */
export function goalMarkdown(rows: readonly GoalRow[]): string {
  const out = ["| measure | goal | measured | spread | verdict |", "|---|---|---|---|---|"];
  for (const r of rows) {
    const goal = `${r.direction === "at-most" ? "≤" : "≥"} ${num(r.goal)} ${r.unit}`;
    const measured = r.measured === undefined ? "—" : `${num(r.measured)} ${r.unit}`;
    out.push(`| ${r.measure} | ${goal} | ${measured} | ${r.spread ?? ""} | ${verdict(r)} |`);
  }
  return out.join("\n") + "\n";
}

/** Exit status for a benchmark that checked goals: 0 when none failed (n/a rows do not fail a run). */
export function goalExitCode(rows: readonly GoalRow[]): number {
  return rows.some((r) => passes(r) === false) ? 1 : 0;
}
