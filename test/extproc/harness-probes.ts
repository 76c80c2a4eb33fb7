/**
 * What ext_proc tests read back from a running harness besides the replies: a metric's current value from the
 * server's own registry, and the `/debug/state` document over its HTTP port. Shared so every test reads them the
 * same way (a missing series counts as 0, the document is fetched fresh each time).
 *
 * @module
 */
import type { Harness } from "./harness";

/**
 * The value of metric `name`'s series whose labels include `labels` (all of them, by equality); 0 when there is
 * no such series yet (a counter not yet incremented has none).
 */
export async function metricValue(
  h: Harness,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const m = await h.server.metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

/** The `/debug/state` document, fetched now; `T` is the part of its shape the test reads. */
export async function debugState<T>(h: Harness): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${h.server.httpPort}/debug/state`);
  return (await res.json()) as T;
}

/** The `pods` of `/debug/state`; `P` is the part of a pod entry the test reads. */
export async function debugPods<P>(h: Harness): Promise<P[]> {
  return (await debugState<{ pods: P[] }>(h)).pods;
}

/**
 * The first "request finished" log line (already written or still to come) whose fields include `fields`, by
 * equality: the event a test waits for once a stream's cleanup has run.
 */
export function finishedLine(
  h: Harness,
  fields: Readonly<Record<string, unknown>> = {},
): Promise<Record<string, unknown>> {
  return h.log.waitFor(
    (l) => l["msg"] === "request finished" && Object.entries(fields).every(([k, want]) => l[k] === want),
  );
}
