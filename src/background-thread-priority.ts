/**
 * Background threads (tokenizer workers, the scrape thread) run at a lower scheduling priority than the ext_proc
 * event loop. On Linux a thread's nice value is its own, so a worker lowers only itself. When more threads are
 * runnable than there are CPUs (two workers, the loop and Envoy's traffic on a 2-CPU pod), the kernel then hands the
 * CPU to the event loop as soon as a message arrives, instead of letting it wait out a worker's time slice: the
 * loop's delay is what every request pays. Workers still get every CPU cycle the loop leaves idle.
 *
 * @module
 */
import { setPriority } from "node:os";

/** Nice value of background threads: below the loop's default 0, not so low that they starve behind other pods. */
export const BACKGROUND_NICE = 10;

/**
 * Lower the calling thread's priority to {@link BACKGROUND_NICE}. Best effort: where the platform refuses (or
 * applies it to the whole process, e.g. not Linux), nothing changes and `false` is returned.
 */
export function lowerThisThreadPriority(): boolean {
  if (process.platform !== "linux") return false;
  try {
    setPriority(0, BACKGROUND_NICE);
    return true;
  } catch {
    return false;
  }
}
