/**
 * A bound on replays in flight across all pods. A replay makes the engine send up to its whole buffer (10 000
 * batches by default) and kvroute apply them; after a kvroute restart every pod asks at once, so without a bound
 * N pods would each push their buffer through the event loop at the same time. Beyond the bound a pod waits its
 * turn (first come, first served) with its live batches queued behind it, up to its own queue bound.
 *
 * @module
 */

/** One request for a slot: `granted` resolves when the slot is held; `release` frees it (or cancels the wait). */
export interface SlotTicket {
  readonly granted: Promise<void>;
  release(): void;
}

/** Counting semaphore of replay slots. */
export class ReplaySlots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  /** @param limit Most replays in flight (≥ 1). */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`replay slots: limit ${limit} must be ≥ 1`);
  }

  /** Replays in flight now. */
  get inFlight(): number {
    return this.held;
  }

  /** Pods waiting for a slot now (at most one per subscribed pod). */
  get queued(): number {
    return this.waiting.length;
  }

  /** Ask for a slot. Release exactly once, whether or not it was granted. */
  acquire(): SlotTicket {
    let state: "waiting" | "held" | "released" = "waiting";
    let grant: () => void = () => undefined;
    const granted = new Promise<void>((resolve) => {
      grant = () => {
        if (state !== "waiting") return;
        state = "held";
        this.held++;
        resolve();
      };
    });
    if (this.held < this.limit) grant();
    else this.waiting.push(grant);
    return {
      granted,
      release: () => {
        if (state === "held") {
          this.held--;
          this.waiting.shift()?.();
        } else if (state === "waiting") {
          const i = this.waiting.indexOf(grant);
          if (i >= 0) this.waiting.splice(i, 1);
        }
        state = "released";
      },
    };
  }
}

/** Delays of retries after failed replays: `initialMs` doubling up to `maxMs`, back to `initialMs` on success. */
export class RetryBackoff {
  private nextMs: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.nextMs = initialMs;
  }

  /** The delay before the next retry; doubles the one after. */
  next(): number {
    const ms = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.maxMs);
    return ms;
  }

  /** A replay succeeded. */
  reset(): void {
    this.nextMs = this.initialMs;
  }
}
