/**
 * A binary min-heap whose items know their position, so any item (not only the top) can be removed in O(log n):
 * one flow's queued requests, where a request also leaves by cancel, expiry or shedding, not only by dispatch.
 *
 * @module
 * @internal
 */

/** An item of an {@link IndexedHeap}: the heap keeps `heapIndex` current (−1 while the item is in no heap). */
export interface HeapItem {
  heapIndex: number;
}

/** Min-heap by `less`; push, pop and remove are O(log n), peek O(1). An item belongs to at most one heap. */
export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  /** The smallest item, left in place. */
  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  /** Remove and return the smallest item. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Remove `item`; false when it is not in this heap. */
  remove(item: T): boolean {
    const i = item.heapIndex;
    if (this.items[i] !== item) return false;
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIndex = i;
      // The filler came from the bottom: it may belong above or below the hole.
      this.up(i);
      this.down(last.heapIndex);
    }
    return true;
  }

  private up(from: number): void {
    const items = this.items;
    let i = from;
    const item = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (!this.less(item, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(from: number): void {
    const items = this.items;
    const n = items.length;
    let i = from;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(items[r] as T, items[l] as T) ? r : l;
      const child = items[c] as T;
      if (!this.less(child, item)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
