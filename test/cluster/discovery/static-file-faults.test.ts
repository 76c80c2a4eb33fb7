/**
 * The endpoints file under faults: a write in progress (non-atomic, cut mid-endpoint), a FIFO, a directory, an
 * oversized file at the path, and a read that never returns (a hung network filesystem). Real files in a temp
 * directory; every wait is on an event (a store change or a log line).
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterStore } from "../../../src/cluster/cluster-state";
import { createClusterStore } from "../../../src/cluster/cluster-state";
import type {
  DiscoveryLog,
  EndpointsFileWatch,
  WatchEndpointsOptions,
} from "../../../src/cluster/discovery/static-file";
import { MAX_ENDPOINTS_FILE_BYTES, watchEndpointsFile } from "../../../src/cluster/discovery/static-file";
import { file, model, nextChange, recordingLog, withGuard } from "./watch-helpers";

/** The read deadline of the hung-read test: long enough for a real read on a loaded machine. */
const READ_TIMEOUT_MS = 1500;

describe("watchEndpointsFile under faults", () => {
  let dir: string;
  let path: string;
  const open_: EndpointsFileWatch[] = [];
  const start = (
    store: ClusterStore,
    log: DiscoveryLog,
    results: string[] = [],
    extra: Partial<WatchEndpointsOptions> = {},
  ): EndpointsFileWatch => {
    const w = watchEndpointsFile(path, store, log, {
      debounceMs: 20,
      onReload: (r) => results.push(r),
      ...extra,
    });
    open_.push(w);
    return w;
  };
  const addresses = (store: ClusterStore): string[] =>
    [...store.snapshot().pods.values()].map((p) => p.address);
  const replaceAtomically = async (text: string): Promise<void> => {
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvroute-static-faults-"));
    path = join(dir, "endpoints.yaml");
  });
  afterEach(async () => {
    for (const w of open_.splice(0)) await w.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("rejects a write cut mid-endpoint (127.0.0.1:18004 -> :180) and applies it once complete", async () => {
    const full = "models:\n  - name: m\n    endpoints:\n      - 127.0.0.1:18001\n      - 127.0.0.1:18004\n";
    await writeFile(path, full);
    const store = createClusterStore();
    const log = recordingLog();
    const results: string[] = [];
    await withGuard(start(store, log, results).ready, "ready");
    const before = store.snapshot();

    // The new version adds an endpoint; a writer that is not atomic has written only up to "...:180" so far.
    const next = `${full}      - 127.0.0.1:18005\n`;
    const cut = next.indexOf("127.0.0.1:18004") + "127.0.0.1:180".length;
    const fh = await open(path, "w");
    try {
      await fh.write(next.slice(0, cut));
      await fh.sync();
      expect(await log.errorMatching("127.0.0.1:180 (cut from 127.0.0.1:18004?)")).toContain(
        "does not end with a newline",
      );
      expect(store.snapshot()).toBe(before);
      expect(results).toContain("incomplete");

      const change = nextChange(store);
      await fh.write(next.slice(cut));
      expect([...(await change).pods.values()].map((p) => p.address)).toEqual([
        "127.0.0.1:18001",
        "127.0.0.1:18004",
        "127.0.0.1:18005",
      ]);
    } finally {
      await fh.close();
    }
    expect(results.at(-1)).toBe("ok");
  });

  it("refuses a file without its final newline at start", async () => {
    await writeFile(path, "models:\n  - name: m\n    endpoints: [127.0.0.1:8001]");
    const store = createClusterStore();
    const results: string[] = [];
    await expect(start(store, recordingLog(), results).ready).rejects.toThrow(/does not end with a newline/);
    expect(results).toEqual(["incomplete"]);
    expect(store.snapshot().loaded).toBe(false);
  });

  it("rejects a FIFO at the path without opening it, keeps the fleet, and recovers", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    const store = createClusterStore();
    const log = recordingLog();
    const results: string[] = [];
    await withGuard(start(store, log, results).ready, "ready");
    const before = store.snapshot();

    await rm(path);
    execFileSync("mkfifo", [path]);
    // Nobody ever writes to this FIFO: a read that opened it would wait for ever.
    expect(await log.errorMatching("a FIFO is not a regular file")).toContain("not opened");
    expect(results).toEqual(["ok", "not-regular-file"]);
    expect(store.snapshot()).toBe(before);

    const change = nextChange(store);
    await replaceAtomically(file(model("m", ["127.0.0.1:8002"])));
    await change;
    expect(addresses(store)).toEqual(["127.0.0.1:8002"]);
  });

  it("refuses a FIFO, a directory and an oversized file at start, by kind", async () => {
    execFileSync("mkfifo", [path]);
    const results: string[] = [];
    await expect(start(createClusterStore(), recordingLog(), results).ready).rejects.toThrow(/FIFO/);
    await rm(path);
    await mkdir(path);
    await expect(start(createClusterStore(), recordingLog(), results).ready).rejects.toThrow(
      /directory is not a regular file/,
    );
    await rm(path, { recursive: true });
    await writeFile(path, "");
    await truncate(path, MAX_ENDPOINTS_FILE_BYTES + 1); // sparse: refused by its size, never read
    await expect(start(createClusterStore(), recordingLog(), results).ready).rejects.toThrow(
      /more than the limit/,
    );
    expect(results).toEqual(["not-regular-file", "not-regular-file", "too-large"]);
  });

  it("times out a read that never returns, holds one read at most, and still closes", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    let hang = false;
    let reads = 0;
    let release: (() => void) | undefined;
    const readText = async (p: string): Promise<string> => {
      reads += 1;
      if (!hang) return readFile(p, "utf8");
      // What a read on a hung network filesystem looks like from here: it does not return.
      await new Promise<void>((resolve) => (release = resolve));
      return "models: []\n";
    };
    const store = createClusterStore();
    const log = recordingLog();
    const results: string[] = [];
    const w = start(store, log, results, { readText, readTimeoutMs: READ_TIMEOUT_MS });
    await withGuard(w.ready, "ready");
    const before = store.snapshot();

    hang = true;
    await replaceAtomically(file(model("m", ["127.0.0.1:8002"])));
    expect(await log.errorMatching(`did not finish within ${READ_TIMEOUT_MS} ms`)).toContain("rejected");
    expect(w.readStuck()).toBe(true);
    expect(results).toEqual(["ok", "timeout"]);

    // More events while the read is stuck start no second read: the hung filesystem holds one thread, not many.
    await replaceAtomically(file(model("m", ["127.0.0.1:8003"])));
    await log.debugCount(1);
    expect(reads).toBe(2);
    expect(store.snapshot()).toBe(before);

    // close() resolves although the read is still stuck.
    await withGuard(w.close(), "close");
    expect(w.readStuck()).toBe(true);
    release?.();
  });
});
