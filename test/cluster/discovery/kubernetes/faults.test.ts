/**
 * Kubernetes discovery under API-server faults: dropped watches, 410 Gone, an unreachable or failing server,
 * malformed events. Real client, fake API server; every wait is on an event, timeouts are failure guards only.
 *
 * Unhandled rejections need no extra check here: jest 30 fails the test that causes one, and without the guards
 * in resource-watch.ts the malformed-event test takes the whole process down (the client's informer dereferences
 * `obj.metadata` in an async handler).
 */
import type { FakeKubeApi } from "../../../support/fake-kube-api";
import { createFakeKubeApi } from "../../../support/fake-kube-api";
import type { Harness } from "../../../support/kube-fixtures";
import { podObject, startHarness } from "../../../support/kube-fixtures";

const M = "model.aibrix.ai/name";
const pod = (name: string, ip = "10.0.0.1"): ReturnType<typeof podObject> =>
  podObject({ name, ip, labels: { [M]: "m" } });

let fake: FakeKubeApi;
let h: Harness | undefined;
beforeEach(async () => {
  fake = createFakeKubeApi();
  await fake.start();
});

afterEach(async () => {
  await h?.discovery.close();
  h = undefined;
  await fake.stop();
});

it("re-lists after a reset watch connection and still receives later events", async () => {
  fake.add(pod("a"));
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.until(() => fake.openWatches("pods") === 1, "pod watch open");

  fake.dropWatches("destroy");
  // A change while the watch is down, and one after: both must arrive.
  fake.delete(pod("a"));
  await h.until(() => h?.relists.includes("pod") === true, "pod re-list");
  fake.add(pod("b", "10.0.0.2"));
  await h.untilSnapshot(
    (s) => !s.pods.has("default/a") && s.pods.get("default/b")?.ready === true,
    "converged",
  );
  expect(h.errors.some((e) => /^pod: Premature close/.test(e))).toBe(true);
  expect(fake.counters.list.pods).toBeGreaterThanOrEqual(2);
});

it("re-opens a cleanly ended watch from its resourceVersion without re-listing", async () => {
  fake.add(pod("a"));
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.until(() => fake.openWatches("pods") === 1, "pod watch open");
  fake.dropWatches("end");
  fake.add(pod("b", "10.0.0.2"));
  await h.until(() => h?.pod("default/b") !== undefined, "event after the re-watch");
  expect(fake.counters.list.pods).toBe(1);
  expect(fake.counters.watch.pods).toBeGreaterThanOrEqual(2);
  expect(h.errors).toEqual([]);
});

it("asks for bookmarks and a server-side watch timeout, and renews the watch when it expires", async () => {
  h = startHarness(fake, { watchTimeoutSeconds: 1 });
  await h.discovery.ready;
  await fake.until(() => fake.openWatches("pods") === 1, "pod watch open");
  fake.bookmark();
  expect(fake.counters.bookmarks.pods).toBe(1);
  await fake.until(() => fake.counters.watch.pods >= 2, "watch renewed after its timeout", 5000);
  fake.add(pod("a"));
  await h.until(() => h?.pod("default/a") !== undefined, "event on the renewed watch");
  expect(fake.counters.list.pods).toBe(1);
});

it("re-lists on 410 Gone and converges, including deletions it missed", async () => {
  fake.add(pod("a"));
  fake.add(pod("b", "10.0.0.2"));
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.until(() => fake.openWatches("pods") === 1, "pod watch open");

  // The watch ends while history is compacted past the client's resourceVersion, and the fleet changes.
  fake.dropWatches("end");
  fake.expireHistory();
  fake.delete(pod("a"));
  fake.update(podObject({ name: "b", ip: "10.0.0.2", ready: false, labels: { [M]: "m" } }));
  fake.add(pod("c", "10.0.0.3"));

  await h.untilSnapshot(
    (s) => !s.pods.has("default/a") && s.pods.get("default/b")?.ready === false && s.pods.has("default/c"),
    "state after the re-list",
  );
  expect(fake.counters.expired.pods).toBeGreaterThanOrEqual(1);
  expect(fake.counters.list.pods).toBe(2);
  expect(h.relists).toContain("pod");
  expect(h.errors).toEqual([]);
});

it("stays not loaded while the API server is down at start, then syncs when it comes up", async () => {
  fake.add(pod("a"));
  await fake.stop();
  h = startHarness(fake);
  await h.until(() => h!.errors.filter((e) => e.startsWith("pod:")).length >= 3, "several failed attempts");
  expect(h.isReady()).toBe(false);
  expect(h.store.snapshot().loaded).toBe(false);
  expect(h.discovery.status()).toMatchObject({
    synced: false,
    pods: 0,
    lastError: expect.stringMatching(/ECONNREFUSED/),
  });
  // Each distinct failure is logged once at error level; repeats go to debug.
  expect(
    h.logs.filter((l) => l.level === "error" && (l.obj as { kind?: string }).kind === "pod"),
  ).toHaveLength(1);

  await fake.start();
  await h.discovery.ready;
  expect(h.store.snapshot().loaded).toBe(true);
  expect(h.pod("default/a")?.ready).toBe(true);
  expect(h.discovery.status()).toEqual({ synced: true, pods: 1 });
  expect(h.logs.some((l) => l.msg === "kubernetes watch recovered")).toBe(true);
});

it("keeps the last fleet while the API server is down, and converges after it restarts", async () => {
  fake.add(pod("a"));
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.stop();
  await h.until(() => h?.errors.some((e) => e.startsWith("pod:")) === true, "failure noticed");
  expect(h.pod("default/a")?.ready).toBe(true);
  expect(h.store.snapshot().loaded).toBe(true);

  fake.delete(pod("a"));
  fake.add(pod("b", "10.0.0.2"));
  await fake.start();
  await h.untilSnapshot((s) => s.pods.size === 1 && s.pods.has("default/b"), "fleet after restart");
  expect(h.relists).toContain("pod");
});

it("retries a failing list (HTTP 500) and reports it in status", async () => {
  fake.failRequests("pods", 500);
  fake.add(pod("a"));
  h = startHarness(fake);
  await h.until(() => h!.errors.length >= 2, "failed lists");
  expect(h.discovery.status().lastError).toBe("pod: HTTP 500: injected failure 500");
  expect(h.isReady()).toBe(false);
  fake.failRequests("pods", undefined);
  await h.discovery.ready;
  expect(h.pod("default/a")).toBeDefined();
});

it("drops malformed watch events without stopping the watch", async () => {
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.until(() => fake.openWatches("pods") === 1, "pod watch open");
  fake.injectRawLine("pods", "not json");
  fake.injectRawLine("pods", JSON.stringify({ type: "ADDED", object: null }));
  fake.injectRawLine("pods", JSON.stringify({ type: "MODIFIED", object: { metadata: {} } }));
  fake.injectRawLine("pods", JSON.stringify({ type: "ERROR", object: null }));
  fake.add(pod("a"));
  await h.until(() => h?.pod("default/a") !== undefined, "valid event after junk");
  expect(h.errors).toEqual([]);
});

it("survives a store listener that throws", async () => {
  h = startHarness(fake);
  await h.discovery.ready;
  h.store.onChange(() => {
    throw new Error("listener bug");
  });
  fake.add(pod("a"));
  await h.until(
    () => h?.logs.some((l) => l.msg === "publishing the kubernetes fleet failed") === true,
    "logged",
  );
  fake.add(pod("b", "10.0.0.2"));
  await h.until(() => h?.pod("default/b") !== undefined, "later events still applied");
});

it("rejects ready when closed before the first sync, and stops retrying", async () => {
  await fake.stop();
  h = startHarness(fake);
  await h.until(() => h!.errors.length >= 1, "first failure");
  await h.discovery.close();
  await expect(h.discovery.ready).rejects.toThrow(/closed before its first sync/);
  const attempts = h.errors.length;
  await fake.start();
  // Nothing reconnects after close: a fresh discovery against the same server syncs, the closed one never does.
  const other = startHarness(fake);
  await other.discovery.ready;
  await other.discovery.close();
  expect(h.errors.length).toBe(attempts);
  expect(h.store.snapshot().loaded).toBe(false);
});

it("close() while the list is in flight opens no watch", async () => {
  fake.add(pod("a"));
  fake.hold("list");
  h = startHarness(fake);
  await fake.until(
    () => fake.counters.list.pods === 1 && fake.counters.list.modeladapters === 1,
    "lists requested",
  );
  await h.discovery.close();
  fake.release("list");
  // Open a watch of our own and wait for it: by then the discovery's list responses have long been handled.
  const other = startHarness(fake);
  await other.discovery.ready;
  await fake.until(() => fake.counters.watch.pods === 1, "the other discovery's watch");
  await other.discovery.close();
  expect(fake.counters.watch.pods).toBe(1);
  expect(h.store.snapshot().loaded).toBe(false);
});

it("close() while a watch request is in flight aborts the watch when it answers", async () => {
  fake.hold("watch");
  h = startHarness(fake);
  await h.discovery.ready;
  await fake.until(
    () => fake.counters.watch.pods === 1 && fake.counters.watch.modeladapters === 1,
    "watches requested",
  );
  await h.discovery.close();
  fake.release("watch");
  await fake.until(() => fake.openWatches() === 0, "no watch left open");
});

it("gives up on a list the API server does not answer, and retries", async () => {
  fake.add(pod("a"));
  fake.hold("list");
  h = startHarness(fake, { requestTimeoutMs: 100 });
  await h.until(() => h!.errors.some((e) => /^pod: list not answered within 100 ms/.test(e)), "list timeout");
  expect(h.isReady()).toBe(false);
  fake.release("list");
  await h.discovery.ready;
  expect(h.pod("default/a")).toBeDefined();
});

it("gives up on a watch the API server does not answer, re-lists, and keeps a single watch", async () => {
  fake.add(pod("a"));
  fake.hold("watch");
  h = startHarness(fake, { requestTimeoutMs: 100 });
  await h.discovery.ready;
  await h.until(() => h!.errors.some((e) => /^pod: watch request not answered/.test(e)), "watch timeout");
  await h.until(() => h!.relists.includes("pod"), "re-list after the timeout");
  fake.release("watch");
  fake.add(pod("b", "10.0.0.2"));
  await h.until(() => h?.pod("default/b") !== undefined, "events flow again");
  // The abandoned watches were aborted when they finally answered: one per resource is left.
  await fake.until(
    () => fake.openWatches("pods") === 1 && fake.openWatches("modeladapters") === 1,
    "one watch each",
  );
});
