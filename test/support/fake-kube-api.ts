/**
 * An in-process fake Kubernetes API server for tests that run the real `@kubernetes/client-node` against it.
 *
 * It serves list and watch (`?watch=true|1`) for Pods (core/v1), ModelAdapters (model.aibrix.ai/v1alpha1) and
 * InferencePools (inference.networking.k8s.io/v1), cluster-wide and per namespace, the way the real API server does:
 * one global resourceVersion counter, lists stamped with it, watches that replay history after a given
 * resourceVersion (or synthesize ADDED events when none is given), BOOKMARK events when asked for, and a
 * `410 Expired` ERROR event (in a 200 response, then the stream ends) for a resourceVersion older than the kept
 * history. Test controls simulate the faults discovery must survive.
 *
 * @module
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type * as KubeClient from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";

/** The resources the fake serves. */
export type FakeResource = "pods" | "modeladapters" | "inferencepools";

/** A stored object: any JSON with `metadata.name` and, for these namespaced kinds, `metadata.namespace`. */
export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A custom resource's paths and type, from its `group/version`. */
const custom = (apiVersion: string, kind: string): { prefix: string; apiVersion: string; kind: string } => ({
  prefix: `/apis/${apiVersion}`,
  apiVersion,
  kind,
});

const RESOURCES: Record<FakeResource, { prefix: string; apiVersion: string; kind: string }> = {
  pods: { prefix: "/api/v1", apiVersion: "v1", kind: "Pod" },
  modeladapters: custom("model.aibrix.ai/v1alpha1", "ModelAdapter"),
  inferencepools: custom("inference.networking.k8s.io/v1", "InferencePool"),
};

/** The resource an object belongs to, from its `kind` (Pods when unset). */
const resourceOf = (obj: { readonly kind?: string | undefined }): FakeResource =>
  (Object.keys(RESOURCES) as FakeResource[]).find((r) => RESOURCES[r].kind === obj.kind) ?? "pods";

interface WatchEvent {
  readonly rv: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: FakeObject;
}

interface Watcher {
  readonly resource: FakeResource;
  readonly namespace: string | undefined;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout | undefined;
}

/** Request counters, per resource. */
export interface FakeCounters {
  readonly list: Record<FakeResource, number>;
  readonly watch: Record<FakeResource, number>;
  /** Watch requests answered with the 410 Expired ERROR event. */
  readonly expired: Record<FakeResource, number>;
  /** BOOKMARK events sent (only to watches that asked with `allowWatchBookmarks=true`). */
  readonly bookmarks: Record<FakeResource, number>;
}

const zero = (): Record<FakeResource, number> => ({ pods: 0, modeladapters: 0, inferencepools: 0 });

/** Handle on a running fake API server. */
export interface FakeKubeApi {
  /** The port it listens on (fixed after the first `start()`, so a restart keeps it). */
  readonly port: number;
  readonly counters: FakeCounters;
  /** Watches currently open. */
  openWatches(resource?: FakeResource): number;
  /** Listen (again) on 127.0.0.1; the first start picks a free port. */
  start(): Promise<void>;
  /** Close the listener and every connection: the API server is down until `start()`. */
  stop(): Promise<void>;
  /** Create, replace or delete an object; each bumps the resourceVersion and notifies matching watches. */
  add(obj: FakeObject): FakeObject;
  update(obj: FakeObject): FakeObject;
  delete(obj: Pick<FakeObject, "kind" | "metadata">): void;
  /** Write one raw line to every open watch of `resource` (for malformed-event tests). */
  injectRawLine(resource: FakeResource, line: string): void;
  /** Send a BOOKMARK with the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): void;
  /** End every open watch: `"destroy"` resets the sockets (default), `"end"` finishes the responses cleanly. */
  dropWatches(how?: "destroy" | "end"): void;
  /** Forget the event history: any older resourceVersion now gets 410 Expired; new lists are fine. */
  expireHistory(): void;
  /** Hold `verb` requests unanswered (they are counted on arrival) until `release(verb)`. */
  hold(verb: "list" | "watch"): void;
  /** Answer the held requests and stop holding. */
  release(verb: "list" | "watch"): void;
  /** Answer every request for `resource` with this HTTP status (a Status body) until called with undefined. */
  failRequests(resource: FakeResource, status: number | undefined): void;
  /** Resolves when `predicate` holds; re-checked after every request and change. Guarded by `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** A KubeConfig pointing at this server (plain HTTP, anonymous user). */
  kubeConfig(): KubeConfig;
}

/** Create a fake API server (not yet listening: call `start()`). */
export function createFakeKubeApi(): FakeKubeApi {
  let port = 0;
  let server: Server | undefined;
  let rv = 1;
  /** Watches from a resourceVersion below this get 410. */
  let minRv = 1;
  const stores: Record<FakeResource, Map<string, FakeObject>> = {
    pods: new Map(),
    modeladapters: new Map(),
    inferencepools: new Map(),
  };
  const history: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  const failing = new Map<FakeResource, number>();
  const held: Record<"list" | "watch", (() => void)[] | undefined> = { list: undefined, watch: undefined };
  const counters: FakeCounters = { list: zero(), watch: zero(), expired: zero(), bookmarks: zero() };
  const waiters = new Set<() => boolean>();
  const settle = (): void => {
    for (const w of waiters) if (w()) waiters.delete(w);
  };

  const keyOf = (o: Pick<FakeObject, "metadata">): string => `${o.metadata.namespace}/${o.metadata.name}`;
  const stamp = (obj: FakeObject, r: number): FakeObject => {
    const res = resourceOf(obj);
    return {
      ...obj,
      apiVersion: RESOURCES[res].apiVersion,
      kind: RESOURCES[res].kind,
      metadata: { ...obj.metadata, resourceVersion: String(r) },
    };
  };
  const send = (w: Watcher, event: object): void => {
    w.res.write(`${JSON.stringify(event)}\n`);
  };
  const endWatch = (w: Watcher): void => {
    clearTimeout(w.timer);
    watchers.delete(w);
    w.res.end();
  };

  const inScope = (namespace: string | undefined, o: FakeObject): boolean =>
    namespace === undefined || o.metadata.namespace === namespace;

  const emit = (type: WatchEvent["type"], object: FakeObject): void => {
    const event: WatchEvent = { rv, type, object };
    history.push(event);
    const res = resourceOf(object);
    for (const w of watchers)
      if (w.resource === res && inScope(w.namespace, object)) send(w, { type, object });
    settle();
  };

  const status = (res: ServerResponse, code: number, reason: string, message: string): void => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }));
  };

  /** Match `{prefix}/{plural}` or `{prefix}/namespaces/{ns}/{plural}`. */
  const route = (path: string): { resource: FakeResource; namespace: string | undefined } | undefined => {
    for (const [resource, { prefix }] of Object.entries(RESOURCES) as [FakeResource, { prefix: string }][]) {
      if (path === `${prefix}/${resource}`) return { resource, namespace: undefined };
      const m = new RegExp(`^${prefix.replace(/\./g, "\\.")}/namespaces/([^/]+)/${resource}$`).exec(path);
      if (m?.[1] !== undefined) return { resource, namespace: decodeURIComponent(m[1]) };
    }
    return undefined;
  };

  const objectsIn = (resource: FakeResource, namespace: string | undefined): FakeObject[] =>
    [...stores[resource].values()].filter((o) => inScope(namespace, o));

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // loopback-check: not-dialled (base for parsing a request path)
    const url = new URL(req.url ?? "/", "http://fake");
    const target = route(url.pathname);
    if (req.method !== "GET" || !target) {
      status(res, 404, "NotFound", `the server could not find the requested resource ${url.pathname}`);
      return;
    }
    const { resource, namespace } = target;
    const watch = url.searchParams.get("watch");
    const isWatch = watch === "true" || watch === "1";
    (isWatch ? counters.watch : counters.list)[resource] += 1;
    settle();
    const queue = held[isWatch ? "watch" : "list"];
    if (queue) queue.push(() => answer(url, resource, namespace, isWatch, res));
    else answer(url, resource, namespace, isWatch, res);
  };

  function answer(
    url: URL,
    resource: FakeResource,
    namespace: string | undefined,
    isWatch: boolean,
    res: ServerResponse,
  ): void {
    if (res.destroyed) return;
    const failure = failing.get(resource);
    if (failure !== undefined) {
      status(res, failure, "InternalError", `injected failure ${failure}`);
      return;
    }
    if (!isWatch) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          apiVersion: RESOURCES[resource].apiVersion,
          kind: `${RESOURCES[resource].kind}List`,
          metadata: { resourceVersion: String(rv) },
          items: objectsIn(resource, namespace),
        }),
      );
      return;
    }
    const from = url.searchParams.get("resourceVersion") ?? "";
    const timeoutSeconds = Number(url.searchParams.get("timeoutSeconds") ?? "0");
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    // The client waits for the headers before it reads events; send them even if no event follows soon.
    res.flushHeaders();
    const w: Watcher = {
      resource,
      namespace,
      bookmarks: url.searchParams.get("allowWatchBookmarks") === "true",
      res,
      timer: timeoutSeconds > 0 ? setTimeout(() => endWatch(w), timeoutSeconds * 1000) : undefined,
    };
    watchers.add(w);
    res.on("close", () => {
      clearTimeout(w.timer);
      watchers.delete(w);
      settle();
    });
    if (from === "" || from === "0") {
      // "Start at most recent": synthetic ADDED events for the current state, then live events.
      for (const o of objectsIn(resource, namespace)) send(w, { type: "ADDED", object: o });
    } else if (Number(from) < minRv) {
      counters.expired[resource] += 1;
      const message = `too old resource version: ${from} (${minRv})`;
      const gone = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, code: 410 };
      send(w, { type: "ERROR", object: { ...gone, reason: "Expired" } });
      endWatch(w);
    } else {
      for (const e of history) {
        const wanted =
          e.rv > Number(from) && resourceOf(e.object) === resource && inScope(namespace, e.object);
        if (wanted) send(w, { type: e.type, object: e.object });
      }
    }
    settle();
  }

  const api: FakeKubeApi = {
    get port() {
      return port;
    },
    counters,
    openWatches: (resource) =>
      [...watchers].filter((w) => resource === undefined || w.resource === resource).length,
    async start() {
      const s = createServer(handle);
      s.on("connection", (socket: Socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, "127.0.0.1", () => {
          s.off("error", reject);
          resolve();
        });
      });
      const addr = s.address();
      if (addr !== null && typeof addr === "object") port = addr.port;
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const w of [...watchers]) {
        clearTimeout(w.timer);
        watchers.delete(w);
      }
      for (const socket of sockets) socket.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
      settle();
    },
    add(obj) {
      rv += 1;
      const stored = stamp(obj, rv);
      stores[resourceOf(obj)].set(keyOf(obj), stored);
      emit("ADDED", stored);
      return stored;
    },
    update(obj) {
      if (!stores[resourceOf(obj)].has(keyOf(obj))) throw new Error(`update of unknown object ${keyOf(obj)}`);
      rv += 1;
      const stored = stamp(obj, rv);
      stores[resourceOf(obj)].set(keyOf(obj), stored);
      emit("MODIFIED", stored);
      return stored;
    },
    delete(obj) {
      const store = stores[resourceOf(obj)];
      const old = store.get(keyOf(obj));
      if (!old) throw new Error(`delete of unknown object ${keyOf(obj)}`);
      store.delete(keyOf(obj));
      rv += 1;
      emit("DELETED", stamp(old, rv));
    },
    injectRawLine(resource, line) {
      for (const w of watchers) if (w.resource === resource) w.res.write(`${line}\n`);
    },
    bookmark() {
      for (const w of watchers) {
        if (w.bookmarks) {
          counters.bookmarks[w.resource] += 1;
          send(w, {
            type: "BOOKMARK",
            object: {
              kind: RESOURCES[w.resource].kind,
              apiVersion: RESOURCES[w.resource].apiVersion,
              metadata: { resourceVersion: String(rv) },
            },
          });
        }
      }
    },
    dropWatches(how = "destroy") {
      for (const w of [...watchers]) {
        if (how === "end") endWatch(w);
        else {
          clearTimeout(w.timer);
          watchers.delete(w);
          w.res.socket?.destroy();
        }
      }
      settle();
    },
    expireHistory() {
      // Like an etcd compaction after a write: the history is gone, and lists return a resourceVersion that is
      // still watchable.
      rv += 1;
      minRv = rv;
      history.length = 0;
    },
    hold(verb) {
      held[verb] ??= [];
    },
    release(verb) {
      const queue = held[verb] ?? [];
      held[verb] = undefined;
      for (const proceed of queue) proceed();
      settle();
    },
    failRequests(resource, code) {
      if (code === undefined) failing.delete(resource);
      else failing.set(resource, code);
    },
    until(predicate, what, timeoutMs = 5000) {
      if (predicate()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const check = (): boolean => {
          if (!predicate()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        };
        waiters.add(check);
      });
    },
    kubeConfig() {
      // Loaded on first use: a test that drives a kvroute process against the fake never calls this, and loading
      // the client costs ~1 s of CPU in jest (more with a cold transform cache).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const client = require("@kubernetes/client-node") as typeof KubeClient;
      const kc = new client.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: "u" }],
        contexts: [{ name: "c", cluster: "fake", user: "u" }],
        currentContext: "c",
      });
      return kc;
    },
  };
  return api;
}
