/**
 * A per-key pass (a queue drain) that may be re-entered: a pass's own side effects (a dispatched decision that
 * releases another pick) can ask for the same key again while it runs. Such a call is folded into one more pass
 * after the current one, instead of running nested inside it. Shared by the headroom queue and flow control.
 *
 * @module
 */

/** Wrap `pass`; the result runs it for a key, folding re-entrant calls for that key into one more pass. */
export function foldReentrant(pass: (key: string) => void): (key: string) => void {
  const running = new Set<string>();
  const again = new Set<string>();
  return (key) => {
    if (running.has(key)) {
      again.add(key);
      return;
    }
    running.add(key);
    try {
      do {
        again.delete(key);
        pass(key);
      } while (again.has(key));
    } finally {
      running.delete(key);
    }
  };
}
