/**
 * One memory budget for request bodies buffered across all ext_proc streams. Each stream buffers its body until
 * routing is decided; without a shared bound, many slow uploads (each under `--max-body-bytes`) add up to any
 * amount of memory. A stream whose next chunk does not fit is answered 503 (`x-error-body-buffer-full`) and its
 * bytes go back at once; every stream gives its bytes back exactly once, whatever ends it.
 *
 * @module
 */
import { Code, RouteError } from "../errors";

/** The shared budget. */
export interface BodyBudget {
  /** Take `bytes`; false, taking nothing, when that would go over the limit. */
  tryTake(bytes: number): boolean;
  /** Give back bytes taken before. */
  give(bytes: number): void;
  /** Bytes taken now. */
  inUse(): number;
}

/** Create a budget of `limit` bytes; `onChange` sees every new total (for a gauge). */
export function createBodyBudget(limit: number, onChange?: (inUse: number) => void): BodyBudget {
  let used = 0;
  return {
    tryTake(bytes) {
      if (bytes === 0) return true;
      if (used + bytes > limit) return false;
      used += bytes;
      onChange?.(used);
      return true;
    },
    give(bytes) {
      if (bytes === 0) return;
      used -= bytes;
      onChange?.(used);
    },
    inUse: () => used,
  };
}

/** One stream's share of a budget. `release` is idempotent, so any number of endings give the bytes back once. */
export interface BodyHold {
  /** Take `bytes` for this stream; false when the budget is exhausted (nothing taken). */
  take(bytes: number): boolean;
  /** Give back everything this stream holds. */
  release(): void;
}

/** A hold on `budget`; without a budget every take succeeds. */
export function holdOn(budget: BodyBudget | undefined): BodyHold {
  let held = 0;
  return {
    take(bytes) {
      if (budget === undefined) return true;
      if (!budget.tryTake(bytes)) return false;
      held += bytes;
      return true;
    },
    release() {
      if (held === 0 || budget === undefined) return;
      budget.give(held);
      held = 0;
    },
  };
}

/** The 503 for a stream whose next body chunk does not fit in the budget. */
export function bodyBufferFull(): RouteError {
  return new RouteError(Code.Overloaded, "kvroute is buffering too many request bodies; retry later", {
    errorHeader: ["x-error-body-buffer-full", "true"],
  });
}
