/**
 * One priority band of one model: its requests grouped by flow (tenant), each flow in its own order (first-come or
 * earliest-deadline), and the flows in a ring for fairness. The ring's order is "longest waiting first": a flow
 * joins at the back when it starts waiting and goes to the back each time it is served, so round-robin serves the
 * front, and least-attained serves the flow with the fewest window tokens, the front-most one on a tie.
 *
 * A flow whose last request leaves is deleted at once, so the band holds only flows with queued requests (never
 * more than the queue's bound); fairness memory across idle periods lives in the token tracker, not here.
 *
 * @module
 * @internal
 */
import type { FairnessPolicy, OrderPolicy } from "./flow-queue-contract";
import { IndexedHeap, type HeapItem } from "./indexed-heap";
import { LinkedList, type ListNode } from "./linked-list";

/** A request as a band orders it. */
export interface BandItem extends HeapItem {
  /** Push order over the whole queue: the first-come order and every tie-break. */
  readonly seq: number;
  /** Absolute deadline (ms), `Infinity` when the request has none. */
  readonly deadline: number;
}

/** One flow's requests in a band, and its place in the band's ring. */
export class BandFlow<E extends BandItem> {
  readonly items: IndexedHeap<E>;
  readonly ringNode: ListNode<BandFlow<E>>;

  constructor(
    readonly key: string,
    less: (a: E, b: E) => boolean,
    ring: LinkedList<BandFlow<E>>,
  ) {
    this.items = new IndexedHeap<E>(less);
    this.ringNode = ring.push(this);
  }
}

const firstCome = (a: BandItem, b: BandItem): boolean => a.seq < b.seq;
// Infinity (no deadline) sorts after every deadline; equal deadlines, and no deadlines, keep push order.
const earliestDeadline = (a: BandItem, b: BandItem): boolean =>
  a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);

/** A band's flows and their requests. Costs: add and remove O(log f) for a flow of f requests; see {@link next}. */
export class FairBand<E extends BandItem> {
  private readonly flows = new Map<string, BandFlow<E>>();
  private readonly ring = new LinkedList<BandFlow<E>>();
  private readonly less: (a: E, b: E) => boolean;
  /** Requests in the band. */
  count = 0;

  constructor(order: OrderPolicy) {
    this.less = order === "edf" ? earliestDeadline : firstCome;
  }

  /** Flows with requests in the band. */
  get flowCount(): number {
    return this.flows.size;
  }

  /** Queue `item` in flow `key` (a new flow joins the back of the ring); returns the flow, for {@link remove}. */
  add(key: string, item: E): BandFlow<E> {
    let flow = this.flows.get(key);
    if (flow === undefined) {
      flow = new BandFlow(key, this.less, this.ring);
      this.flows.set(key, flow);
    }
    flow.items.push(item);
    this.count++;
    return flow;
  }

  /** Take `item` out of `flow`; a flow left empty is deleted. False when it was not there. */
  remove(flow: BandFlow<E>, item: E): boolean {
    if (!flow.items.remove(item)) return false;
    this.count--;
    if (flow.items.size === 0) {
      this.ring.unlink(flow.ringNode);
      this.flows.delete(flow.key);
    }
    return true;
  }

  /**
   * The flow to serve next: round-robin takes the ring's front, O(1); least-attained (with `attained`, a flow's
   * tokens in the window) scans the ring for the fewest, O(flows in the band), the front-most on a tie.
   */
  next(fairness: FairnessPolicy, attained: (flow: string) => number): BandFlow<E> | undefined {
    if (fairness === "round-robin") return this.ring.first?.value;
    let best: BandFlow<E> | undefined;
    let fewest = Infinity;
    for (let n = this.ring.first; n; n = n.next) {
      const tokens = attained(n.value.key);
      if (tokens < fewest) [best, fewest] = [n.value, tokens];
    }
    return best;
  }

  /** Remove and return `flow`'s next request and send the flow to the back of the ring (or delete it, if empty). */
  take(flow: BandFlow<E>): E | undefined {
    const item = flow.items.peek();
    if (item === undefined) return undefined;
    this.remove(flow, item);
    if (flow.items.size > 0) this.ring.moveToEnd(flow.ringNode);
    return item;
  }
}
