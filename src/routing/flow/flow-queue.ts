/**
 * Flow control's queue, to the contract of `flow-queue-contract.ts`: pure bookkeeping on a clock passed in by the
 * caller (kept monotonic here: a clock that steps back is treated as standing still).
 *
 * Shape: per model, its bands (highest first); per band, a {@link FairBand} of flows, each flow a heap of its
 * requests. Beside that, over every model: one list of all requests in push order (expiry: the TTL is the same for
 * every request, so the oldest push expires first and `expire` only looks at the head) and, per band, a list in push
 * order (the caps count bands over all models, and shedding takes the newest request of the lowest band).
 *
 * Costs, for n queued requests, f in the request's flow (within its model and band), F flows in the band, B bands:
 * - push: O(log f), plus O(B) when the band is new to the model or the queue; at the cap one shed (a remove).
 * - peek/pop: O(1) to find the model's top band; round-robin O(1), least-attained O(F) to pick the flow (plus the
 *   token tracker's expiry sweep, once per 1/32 of the fairness window, O(maxFlows)); O(log f) to take the request.
 * - remove: O(log f), plus O(B) when a band empties. expire: that per expired request. nextExpiryMs, size: O(1).
 * - sizes: O(models × bands).
 * Nothing scans the whole queue.
 *
 * Bounded: requests by `maxQueued` (and per band `maxQueuedPerBand`); models, bands and flows exist only while they
 * hold requests (deleted the moment they empty); least-attained fairness remembers at most `maxFlows` flows (the
 * least recently charged is forgotten at the bound and restarts from zero tokens). Flow keys arrive bounded in
 * length (`tenant.ts`).
 *
 * @module
 */
import { createTokenTracker } from "../token-tracker";
import { BandMap } from "./band-map";
import { FairBand, type BandFlow, type BandItem } from "./fair-band";
import type { CreateFlowQueue, FlowQueue, FlowQueueOptions, PushResult, Queued } from "./flow-queue-contract";
import { LinkedList, type ListNode } from "./linked-list";

/** One model's waiting requests. */
interface ModelQueue<T> {
  readonly name: string;
  readonly bands: BandMap<FairBand<Entry<T>>>;
  count: number;
}

/** A queued request and its places in the queue's structures (made and linked in one go). */
class Entry<T> implements BandItem {
  heapIndex = -1;
  readonly deadline: number;
  readonly flow: BandFlow<Entry<T>>;
  readonly ageNode: ListNode<Entry<T>>;
  readonly arrivalNode: ListNode<Entry<T>>;

  constructor(
    readonly queued: Queued<T>,
    readonly seq: number,
    readonly band: number,
    readonly model: ModelQueue<T>,
    readonly fairBand: FairBand<Entry<T>>,
    ages: LinkedList<Entry<T>>,
    arrivals: LinkedList<Entry<T>>,
  ) {
    const d = queued.request.deadlineMs;
    this.deadline = d === undefined || Number.isNaN(d) ? Infinity : d;
    this.flow = fairBand.add(queued.request.flow, this);
    this.ageNode = ages.push(this);
    this.arrivalNode = arrivals.push(this);
  }
}

const QUEUE_FULL = Object.freeze({ t: "rejected", reason: "queue-full" } as const);

/** Create an empty flow queue. */
export const createFlowQueue: CreateFlowQueue = <T>(options: FlowQueueOptions): FlowQueue<T> => {
  const { limits, fairness, order } = options;
  let clock = -Infinity;
  let seq = 0;
  const models = new Map<string, ModelQueue<T>>();
  const live = new Map<Queued<T>, Entry<T>>();
  const ages = new LinkedList<Entry<T>>();
  /** Per band over all models, push order: the per-band cap's count and the shedding order. */
  const arrivals = new BandMap<LinkedList<Entry<T>>>();
  // Round-robin needs no memory beyond the rings; only least-attained keeps tokens per flow.
  const tracker =
    fairness === "least-attained"
      ? createTokenTracker({
          windowMs: options.fairnessWindowMs,
          maxUsers: options.maxFlows,
          defaultMin: 0,
          defaultMax: 0,
          now: () => clock,
        })
      : undefined;
  const attained = (flow: string): number => tracker?.tokens(flow) ?? 0;

  function tick(nowMs: number): void {
    if (nowMs > clock) clock = nowMs;
  }

  /** Take `e` out of every structure; `inBand` false when the band already gave it up (dispatch). */
  function detach(e: Entry<T>, inBand: boolean): void {
    if (inBand) e.fairBand.remove(e.flow, e);
    live.delete(e.queued);
    ages.unlink(e.ageNode);
    const arrived = arrivals.get(e.band) as LinkedList<Entry<T>>;
    arrived.unlink(e.arrivalNode);
    if (arrived.size === 0) arrivals.delete(e.band);
    if (e.fairBand.count === 0) e.model.bands.delete(e.band);
    if (--e.model.count === 0) models.delete(e.model.name);
  }

  /**
   * What an arrival in `band` may shed at the global cap: the newest request of the lowest band, when that band is
   * sheddable (below zero) and below `band`. Shedding never helps at the per-band cap: it would have to come from
   * the arrival's own band, which an arrival never sheds.
   */
  function victim(band: number): Entry<T> | undefined {
    const lowest = arrivals.lowest();
    if (lowest === undefined || lowest >= 0 || lowest >= band) return undefined;
    return arrivals.get(lowest)?.last?.value;
  }

  /** The model's next request and where it sits, by band, then fairness, then order. */
  function next(model: string): { band: FairBand<Entry<T>>; flow: BandFlow<Entry<T>> } | undefined {
    const mq = models.get(model);
    const top = mq?.bands.highest();
    if (mq === undefined || top === undefined) return undefined;
    const band = mq.bands.get(top) as FairBand<Entry<T>>;
    const flow = band.next(fairness, attained);
    return flow && { band, flow };
  }

  return {
    push(request, payload, nowMs): PushResult<T> {
      tick(nowMs);
      // A NaN priority would break the band order; it counts as the default band.
      const band = Number.isNaN(request.priority) ? 0 : request.priority;
      if ((arrivals.get(band)?.size ?? 0) >= limits.maxQueuedPerBand) return QUEUE_FULL;
      const shed: Queued<T>[] = [];
      if (live.size >= limits.maxQueued) {
        const out = victim(band);
        if (out === undefined) return QUEUE_FULL;
        detach(out, true);
        shed.push(out.queued);
      }
      let mq = models.get(request.model);
      if (mq === undefined) {
        mq = { name: request.model, bands: new BandMap(), count: 0 };
        models.set(request.model, mq);
      }
      const queued: Queued<T> = { request, payload, enqueuedMs: clock };
      const fairBand = mq.bands.getOrAdd(band, () => new FairBand<Entry<T>>(order));
      const arrived = arrivals.getOrAdd(band, () => new LinkedList<Entry<T>>());
      live.set(queued, new Entry(queued, seq++, band, mq, fairBand, ages, arrived));
      mq.count++;
      return { t: "queued", entry: queued, shed };
    },

    peek(model, nowMs) {
      tick(nowMs);
      return next(model)?.flow.items.peek()?.queued;
    },

    pop(model, nowMs) {
      tick(nowMs);
      const at = next(model);
      const e = at?.band.take(at.flow);
      if (e === undefined) return undefined;
      detach(e, false);
      tracker?.charge(e.queued.request.flow, e.queued.request.tokens);
      return e.queued;
    },

    remove(entry) {
      const e = live.get(entry);
      if (e === undefined) return false;
      detach(e, true);
      return true;
    },

    expire(nowMs) {
      tick(nowMs);
      const out: Queued<T>[] = [];
      // Waited ttlMs or more: a timer set for nextExpiryMs() must find the request expired when it fires.
      for (let n = ages.first; n && n.value.queued.enqueuedMs + limits.ttlMs <= clock; n = ages.first) {
        detach(n.value, true);
        out.push(n.value.queued);
      }
      return out;
    },

    nextExpiryMs() {
      const oldest = ages.first?.value.queued;
      return oldest && oldest.enqueuedMs + limits.ttlMs;
    },

    settle(flow, charged, actual, nowMs, chargedAtMs) {
      if (tracker === undefined) return;
      tick(nowMs);
      tracker.refund(flow, charged, chargedAtMs);
      tracker.charge(flow, actual);
    },

    length: (model) => models.get(model)?.count ?? 0,

    get size() {
      return live.size;
    },

    sizes() {
      const out: [string, number, number][] = [];
      for (const [name, mq] of models)
        for (const [band, fb] of mq.bands.descending()) out.push([name, band, fb.count]);
      return out;
    },
  };
};
