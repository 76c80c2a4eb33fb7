/**
 * Values keyed by priority band, kept in priority order: the queue asks for the highest band of a model (dispatch)
 * and the lowest band over all models (shedding). Bands are few (configured priorities), so the sorted key array is
 * updated by insertion, O(bands), only when a band appears or empties.
 *
 * @module
 * @internal
 */

/** A map from band (priority) to `V` with its bands in ascending order. */
export class BandMap<V> {
  private readonly byBand = new Map<number, V>();
  /** The bands present, ascending. */
  private readonly order: number[] = [];

  get(band: number): V | undefined {
    return this.byBand.get(band);
  }

  /** The value of `band`, made with `make` if the band is new. */
  getOrAdd(band: number, make: () => V): V {
    let v = this.byBand.get(band);
    if (v === undefined) {
      v = make();
      this.byBand.set(band, v);
      let i = this.order.length;
      while (i > 0 && (this.order[i - 1] as number) > band) i--;
      this.order.splice(i, 0, band);
    }
    return v;
  }

  delete(band: number): void {
    if (!this.byBand.delete(band)) return;
    this.order.splice(this.order.indexOf(band), 1);
  }

  /** The lowest band, or undefined when empty. */
  lowest(): number | undefined {
    return this.order[0];
  }

  /** The highest band, or undefined when empty. */
  highest(): number | undefined {
    return this.order[this.order.length - 1];
  }

  /** Bands and values, highest band first. */
  *descending(): IterableIterator<readonly [band: number, value: V]> {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const band = this.order[i] as number;
      yield [band, this.byBand.get(band) as V];
    }
  }
}
