/**
 * A forward-only character search for the Prometheus text parser, which jumps over label values with native
 * `indexOf` instead of stepping. Used through instance methods only, so moving it out of the parser's module costs
 * the hot loops nothing (unlike the character codes, which stay there).
 *
 * @module
 * @internal
 */

/**
 * The next occurrence of one character at or after a position, remembered between calls: positions asked for
 * only grow during a parse, so each character of the body is scanned by `indexOf` at most once per finder and a
 * body that never closes a quote costs linear time, not quadratic.
 */
export class NextFinder {
  private at = -1;
  private since = Number.POSITIVE_INFINITY;

  constructor(
    private readonly text: string,
    private readonly ch: string,
  ) {}

  /** The index of the next `ch` at or after `from`; `text.length` when there is none. */
  next(from: number): number {
    if (from < this.since || (this.at !== -1 && this.at < from)) {
      this.at = this.text.indexOf(this.ch, from);
      this.since = from;
    }
    return this.at === -1 ? this.text.length : this.at;
  }
}
