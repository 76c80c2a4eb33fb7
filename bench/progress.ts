/**
 * A minimal progress bar on stderr. On a TTY it redraws one line (at most every 100 ms, so drawing never costs
 * the measured run anything noticeable); elsewhere (CI logs, pipes) it prints a line at every 25%, because
 * carriage returns would turn a log into one enormous line.
 *
 * @module
 */

const WIDTH = 30;
const REDRAW_MS = 100;

/** A bar for `total` steps of a task called `label`. */
export class ProgressBar {
  private readonly tty: boolean;
  private lastDraw = 0;
  private lastQuarter = 0;
  private readonly start = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = stream.isTTY;
  }

  /** Report `done` of `total` steps; `note` is appended (e.g. failures so far). */
  update(done: number, note = ""): void {
    const now = Date.now();
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    if (this.tty) {
      if (done < this.total && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      const fill = Math.round(frac * WIDTH);
      const bar = `${"#".repeat(fill)}${"-".repeat(WIDTH - fill)}`;
      const secs = ((now - this.start) / 1000).toFixed(0);
      this.stream.write(`\r  ${this.label} [${bar}] ${done}/${this.total} ${secs}s ${note}\x1b[K`);
      return;
    }
    const quarter = Math.floor(frac * 4);
    if (quarter > this.lastQuarter) {
      this.lastQuarter = quarter;
      this.stream.write(`  ${this.label}: ${done}/${this.total} ${note}\n`);
    }
  }

  /** End the bar's line (TTY only; the non-TTY lines already end). */
  finish(): void {
    if (this.tty) this.stream.write("\n");
  }
}
