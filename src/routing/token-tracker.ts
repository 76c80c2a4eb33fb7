/**
 * Per-user token counts over a sliding window, with the minimum and maximum over users (in memory, per replica).
 * Used by `vtc-basic` (AIBrix `vtc/token_tracker.go`; a user is its `user` header) and by flow control's
 * least-attained fairness (a user is a flow, i.e. a tenant).
 *
 * Time is cut into slots of `windowMs / SLOTS_PER_WINDOW` (at least 1 ms). Each user keeps one entry per slot in
 * which tokens were charged, oldest first; an entry leaves the window once its slot is older than `now − windowMs`,
 * so tokens count for between `windowMs` and `windowMs + slot` (AIBrix: 1 s buckets, the same rule). Expiry runs
 * for every user whenever the cutoff slot moves, so the minimum and maximum never include expired tokens (AIBrix
 * prunes a user only when that user is read or charged, so idle users' old totals linger in its min/max).
 *
 * Bounded: at most `maxUsers` users (each with at most `SLOTS_PER_WINDOW + 2` entries). Charging a new user at the
 * bound forgets the least recently charged one; if that user comes back it starts from zero, i.e. it is treated as
 * a light user until its window refills. The `user` header is client-controlled, so the bound protects memory, not
 * fairness (a client can always claim a fresh name).
 *
 * @module
 * @internal
 */

/** Slots per window: expiry is precise to 1/32 of the window (about 9 s of AIBrix's default 5 minutes). */
export const SLOTS_PER_WINDOW = 32;

/** Amounts at or below this are rounding residue of a settle, not tokens. */
const EPSILON = 1e-9;

/** One user's charges, oldest slot first. `total` is the sum of `amounts` and always > 0 while tracked. */
interface UserWindow {
  readonly slots: number[];
  readonly amounts: number[];
  total: number;
}

/** A charge made by {@link TokenTracker.charge}, to be replaced once with the actual amount. */
export interface Charge {
  readonly user: string;
  readonly amount: number;
  /** @internal The slot charged and the user's record at the time (a forgotten-then-new user is a new record). */
  readonly slot: number;
  readonly window: UserWindow | undefined;
  settled: boolean;
}

/** Options of {@link createTokenTracker}. */
export interface TokenTrackerOptions {
  /** Window length, ms (> 0). */
  readonly windowMs: number;
  /** Most users tracked (≥ 1); the least recently charged is forgotten beyond. */
  readonly maxUsers: number;
  /** What {@link TokenTracker.minTokens} answers when no user has tokens in the window. */
  readonly defaultMin: number;
  /** What {@link TokenTracker.maxTokens} answers when no user has tokens in the window. */
  readonly defaultMax: number;
  /** Wall clock, ms. A clock that steps back is treated as standing still. */
  readonly now: () => number;
}

/** Sliding-window token counts per user. Synchronous and single-threaded, like the event loop that calls it. */
export interface TokenTracker {
  /** Weighted tokens `user` was charged within the window; 0 when unknown. */
  tokens(user: string): number;
  /** Smallest window total over users with tokens; `defaultMin` when there are none. */
  minTokens(): number;
  /** Largest window total over users with tokens; `defaultMax` when there are none. */
  maxTokens(): number;
  /** Charge `amount` (weighted tokens, negative or NaN counted as 0) to `user` in the current slot. */
  charge(user: string, amount: number): Charge;
  /**
   * Replace a charge with `actual`: the charged amount leaves the slot it was put in (unless that slot has already
   * left the window, or the user was forgotten), and `actual` is charged in the current slot, because that is when
   * the usage became known. A second settle of the same charge does nothing.
   */
  settle(charge: Charge, actual: number): void;
  /**
   * Take back `amount` charged to `user` when the {@link Charge} itself was not kept: from the slot of
   * `chargedAtMs` (the clock when it was charged) if that slot is still in the window, else nothing; without
   * `chargedAtMs`, from the user's newest tokens. Never below zero; a user left with nothing is dropped. Unlike
   * `settle`, it cannot tell a forgotten-then-new user from the one charged, so it may take from the new record.
   */
  refund(user: string, amount: number, chargedAtMs?: number): void;
  /** Users currently tracked. */
  size(): number;
}

/** Create an empty tracker. */
export function createTokenTracker(options: TokenTrackerOptions): TokenTracker {
  const { windowMs, now, defaultMin, defaultMax } = options;
  const maxUsers = Math.max(1, Math.floor(options.maxUsers));
  const slotMs = Math.max(1, windowMs / SLOTS_PER_WINDOW);
  // Insertion order is recency order: a charge re-inserts its user at the end; eviction takes the first key.
  const users = new Map<string, UserWindow>();
  // Eviction walks one long-lived iterator: every live key is after its position (keys before it were evicted,
  // and a charged key is re-inserted at the end), so `next()` is the least recently charged user. A fresh
  // `users.keys().next()` would instead step over every deleted slot V8 has not compacted yet (~25 µs at 10k).
  let evictFrom = users.keys();
  let currentSlot = -Infinity;
  let cutoffSlot = -Infinity;
  let lastNow = NaN;
  // Cached bounds over users (all tracked totals are > 0) and how many users sit at each, so a user leaving the
  // bound only forces a full scan when it was the last one there; a dirty flag says the cached value may be wrong.
  let min = Infinity;
  let max = 0;
  let minCount = 0;
  let maxCount = 0;
  let minDirty = false;
  let maxDirty = false;

  /** Move the clock; when the cutoff slot moves, drop expired entries of every user and recompute the bounds. */
  function advance(): void {
    const t = now();
    // Least-attained fairness reads every waiting flow's tokens at one instant: only the first read moves anything.
    if (t === lastNow) return;
    lastNow = t;
    currentSlot = Math.max(currentSlot, Math.floor(t / slotMs));
    const cutoff = Math.max(cutoffSlot, Math.floor((t - windowMs) / slotMs));
    if (cutoff === cutoffSlot) return;
    cutoffSlot = cutoff;
    for (const [user, w] of users) {
      let drop = 0;
      while (drop < w.slots.length && (w.slots[drop] as number) < cutoff) drop++;
      if (drop === 0) continue;
      w.slots.splice(0, drop);
      w.amounts.splice(0, drop);
      // Re-summing (≤ 34 entries) keeps subtraction from accumulating rounding error.
      w.total = w.amounts.reduce((a, b) => a + b, 0);
      if (w.slots.length === 0 || w.total <= EPSILON) users.delete(user);
    }
    minDirty = true;
    maxDirty = true;
  }

  function recompute(): void {
    min = Infinity;
    max = 0;
    for (const w of users.values()) {
      if (w.total < min) [min, minCount] = [w.total, 1];
      else if (w.total === min) minCount++;
      if (w.total > max) [max, maxCount] = [w.total, 1];
      else if (w.total === max) maxCount++;
    }
    minDirty = false;
    maxDirty = false;
  }

  /** Keep the cached bounds right after one user's total went from `before` to `after` (0 = not tracked). */
  function moved(before: number, after: number): void {
    if (before === after) return;
    if (!maxDirty) {
      if (after > max) [max, maxCount] = [after, 1];
      else {
        if (after > 0 && after === max) maxCount++;
        if (before > 0 && before === max && --maxCount === 0) maxDirty = true;
      }
    }
    if (!minDirty) {
      if (after > 0 && after < min) [min, minCount] = [after, 1];
      else {
        if (after > 0 && after === min) minCount++;
        if (before > 0 && before === min && --minCount === 0) minDirty = true;
      }
    }
  }

  /** Forget the least recently charged user. */
  function evictOne(): void {
    let next = evictFrom.next();
    if (next.done) {
      evictFrom = users.keys();
      next = evictFrom.next();
    }
    if (next.done) return;
    const w = users.get(next.value);
    users.delete(next.value);
    if (w) moved(w.total, 0);
  }

  /** Add `amount` (> 0) to `user` in the current slot; returns the record charged. */
  function add(user: string, amount: number): UserWindow {
    let w = users.get(user);
    if (w) {
      users.delete(user);
    } else {
      if (users.size >= maxUsers) evictOne();
      w = { slots: [], amounts: [], total: 0 };
    }
    users.set(user, w);
    const last = w.slots.length - 1;
    if (last >= 0 && w.slots[last] === currentSlot) w.amounts[last] = (w.amounts[last] as number) + amount;
    else {
      w.slots.push(currentSlot);
      w.amounts.push(amount);
    }
    const before = w.total;
    w.total += amount;
    moved(before, w.total);
    return w;
  }

  /** Take `amount` back from `w`'s entry for `slot`, if it is still there. */
  function takeBack(user: string, w: UserWindow, slot: number, amount: number): void {
    if (users.get(user) !== w || slot < cutoffSlot) return;
    const i = w.slots.lastIndexOf(slot);
    if (i < 0) return;
    takeAt(w, i, amount);
    resum(user, w);
  }

  /** Take back `amount` from `w`'s newest entries. */
  function takeNewest(user: string, w: UserWindow, amount: number): void {
    let left = amount;
    for (let i = w.slots.length - 1; i >= 0 && left > EPSILON; i--) left = takeAt(w, i, left);
    resum(user, w);
  }

  /** Take up to `amount` from `w`'s entry `i` (dropped when emptied); returns what is still to take. */
  function takeAt(w: UserWindow, i: number, amount: number): number {
    const had = w.amounts[i] as number;
    if (had - amount > EPSILON) {
      w.amounts[i] = had - amount;
      return 0;
    }
    w.slots.splice(i, 1);
    w.amounts.splice(i, 1);
    return amount - had;
  }

  /** After entries of `w` changed: its total and the bounds; a user left with nothing is dropped. */
  function resum(user: string, w: UserWindow): void {
    const before = w.total;
    w.total = w.amounts.reduce((a, b) => a + b, 0);
    if (w.slots.length === 0 || w.total <= EPSILON) {
      users.delete(user);
      moved(before, 0);
    } else {
      moved(before, w.total);
    }
  }

  return {
    tokens(user) {
      advance();
      return users.get(user)?.total ?? 0;
    },
    minTokens() {
      advance();
      if (minDirty) recompute();
      return min === Infinity ? defaultMin : min;
    },
    maxTokens() {
      advance();
      if (maxDirty) recompute();
      return max === 0 ? defaultMax : max;
    },
    charge(user, amount) {
      advance();
      const a = amount > 0 && Number.isFinite(amount) ? amount : 0;
      const window = a > 0 ? add(user, a) : undefined;
      return { user, amount: a, slot: currentSlot, window, settled: false };
    },
    settle(charge, actual) {
      if (charge.settled) return;
      charge.settled = true;
      advance();
      if (charge.window) takeBack(charge.user, charge.window, charge.slot, charge.amount);
      if (actual > 0 && Number.isFinite(actual)) add(charge.user, actual);
    },
    refund(user, amount, chargedAtMs) {
      advance();
      const w = users.get(user);
      if (!w || !(amount > 0) || !Number.isFinite(amount)) return;
      if (chargedAtMs === undefined) takeNewest(user, w, amount);
      else takeBack(user, w, Math.floor(chargedAtMs / slotMs), amount);
    },
    size: () => users.size,
  };
}
