import { watch } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterSnapshot, ClusterStore } from "../../../src/cluster/cluster-state";
import { createClusterStore } from "../../../src/cluster/cluster-state";
import type { DiscoveryLog, EndpointsFileWatch } from "../../../src/cluster/discovery/static-file";
import { file, model, nextChange, recordingLog, withGuard } from "./watch-helpers";
import {
  EndpointsFileError,
  MAX_ENDPOINTS,
  MAX_ENDPOINTS_FILE_BYTES,
  parseEndpointsFile,
  watchEndpointsFile,
} from "../../../src/cluster/discovery/static-file";
import type { Pod } from "../../../src/cluster/pod";
import { completeRolesets, pdPlacement } from "../../../src/cluster/pd-roles";

const pod = (addr: string, ip: string, port: number, models: string[], engine = "vllm"): Pod => ({
  key: `static/${addr}`,
  name: addr,
  namespace: "static",
  ip,
  port,
  address: addr,
  models,
  ready: true,
  engine,
  labels: { "model.aibrix.ai/name": models[0] ?? "" },
  metricsPort: port,
  adapters: [],
});

describe("parseEndpointsFile", () => {
  it.each<[string, string, Pod[]]>([
    [
      "one model, two endpoints",
      file(model("qwen3-8b", ["10.0.0.2:8000", "10.0.0.1:8000"])),
      [
        pod("10.0.0.1:8000", "10.0.0.1", 8000, ["qwen3-8b"]),
        pod("10.0.0.2:8000", "10.0.0.2", 8000, ["qwen3-8b"]),
      ],
    ],
    [
      "an endpoint shared by two models is one pod",
      file(
        model("z-model", ["10.0.0.1:8000"], "sglang"),
        model("a-model", ["10.0.0.1:8000", "10.0.0.3:9000"]),
      ),
      [
        pod("10.0.0.1:8000", "10.0.0.1", 8000, ["a-model", "z-model"], "sglang"),
        pod("10.0.0.3:9000", "10.0.0.3", 9000, ["a-model"]),
      ],
    ],
    [
      "IPv6 in brackets, host names lower-cased",
      file(model("m", ["[FD00::1]:8000", "Node-1.local:8001"])),
      [pod("[fd00::1]:8000", "fd00::1", 8000, ["m"]), pod("node-1.local:8001", "node-1.local", 8001, ["m"])],
    ],
    ["a model with no endpoints (scaled to zero)", file(model("m", [])), []],
    [
      "block-style YAML with comments",
      "# fleet\nmodels:\n  - name: m # the model\n    endpoints:\n      - 127.0.0.1:8001\n",
      [pod("127.0.0.1:8001", "127.0.0.1", 8001, ["m"])],
    ],
  ])("%s", (_name, text, expected) => {
    expect(parseEndpointsFile(text)).toEqual(expected);
  });

  it.each<[string, string, string]>([
    [
      "host without port",
      file(model("a", ["10.0.0.9:1"]), model("b", ["10.0.0.1"])),
      `models[1].endpoints[0]: "10.0.0.1" is not host:port`,
    ],
    ["port 0", file(model("a", ["10.0.0.1:0"])), `models[0].endpoints[0]: "10.0.0.1:0" is not host:port`],
    ["port too big", file(model("a", ["h:65536"])), `"h:65536" is not host:port`],
    ["no host", file(model("a", [":8000"])), `":8000" is not host:port`],
    ["IPv6 without brackets", file(model("a", ["::1:8000"])), `"::1:8000" is not host:port`],
    ["bad IPv6", file(model("a", ["[fd00::zz]:80"])), `"[fd00::zz]:80" is not host:port`],
    ["bad IPv4", file(model("a", ["300.1.1.1:80"])), `"300.1.1.1:80" is not host:port`],
    ["space in host", file(model("a", ["a b:80"])), `"a b:80" is not host:port`],
    [
      "number, not string",
      "models:\n  - name: a\n    endpoints: [8000]\n",
      `models[0].endpoints[0]: must be a "host:port" string`,
    ],
    [
      "duplicate model",
      file(model("m", ["h:1"]), model("n", ["h:2"]), model("m", ["h:3"])),
      `models[2].name: duplicate model "m" (also models[0])`,
    ],
    [
      "endpoint twice in one model",
      file(model("m", ["h:1", "H:1"])),
      "models[0].endpoints[1]: h:1 is listed twice (also endpoints[0])",
    ],
    [
      "engines disagree on a shared endpoint",
      file(model("a", ["h:1"], "vllm"), model("b", ["h:1"], "sglang")),
      "models[1].engine: sglang conflicts with vllm (models[0]) for endpoint h:1",
    ],
    ["empty models", "models: []\n", "models: must list at least one model"],
    ["empty file", "", "(file): must be a mapping with a models list"],
    ["models missing", "endpoints: []\n", "(file): unsupported field(s) endpoints (only models)"],
    ["not a list", "models: {}\n", "models: must be a list of models"],
    ["empty model name", file(model('""', ["h:1"])), "models[0].name: must not be empty"],
    ["endpoints missing", "models:\n  - name: m\n", "models[0]: must list either endpoints or rolesets"],
    [
      "both endpoints and rolesets",
      "models:\n  - name: m\n    endpoints: []\n    rolesets: []\n",
      "models[0]: must list either endpoints or rolesets (one, not both)",
    ],
    [
      "a pod in two roles",
      "models:\n  - name: m\n    rolesets:\n      - { name: a, prefill: [h:1], decode: [h:1] }\n",
      "models[0].rolesets: h:1 is listed twice",
    ],
    [
      "a pod combined for one model and in a roleset for another",
      "models:\n  - name: a\n    endpoints: [h:1]\n  - name: b\n    rolesets:\n      - { name: r, prefill: [h:1], decode: [] }\n",
      "models[1].rolesets: conflicts with (models[0]) for endpoint h:1",
    ],
    [
      "a roleset field it does not know",
      "models:\n  - name: m\n    rolesets:\n      - { name: a, prefill: [], decode: [], both: [] }\n",
      "models[0].rolesets[0]: unsupported field(s) both (only name, prefill, decode)",
    ],
    ["not YAML", "models: [\n", "not valid YAML: "],
    ["duplicate YAML key", "models: []\nmodels: []\n", "not valid YAML: Map keys must be unique"],
    ["two YAML documents", "models: []\n---\nmodels: []\n", "not valid YAML: "],
    [
      "too big",
      `# ${"x".repeat(MAX_ENDPOINTS_FILE_BYTES)}\n`,
      `more than the limit of ${MAX_ENDPOINTS_FILE_BYTES}`,
    ],
    [
      "too many endpoints",
      file(
        model(
          "m",
          Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => `10.${i >> 8}.${i & 255}.1:80`),
        ),
      ),
      `models: has ${MAX_ENDPOINTS + 1} endpoints, more than the limit of ${MAX_ENDPOINTS}`,
    ],
  ])("rejects %s", (_name, text, expected) => {
    let caught: unknown;
    try {
      parseEndpointsFile(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EndpointsFileError);
    expect((caught as Error).message).toContain(expected);
  });

  it("reads AIBrix's rolesets: each pod labelled with its role and roleset, shown by pdPlacement", () => {
    const pods = parseEndpointsFile(
      [
        "models:",
        "  - name: big",
        "    engine: sglang",
        "    rolesets:",
        "      - { name: rs-a, prefill: [10.0.1.1:8000], decode: [10.0.2.1:8000, 10.0.2.2:8000] }",
        "      - name: rs-b",
        "        prefill: [10.0.1.2:8000]",
        "        decode: []",
        "",
      ].join("\n"),
    );
    expect(pods.map((p) => [p.address, p.engine, pdPlacement(p)])).toEqual([
      ["10.0.1.1:8000", "sglang", { role: "prefill", roleset: "rs-a" }],
      ["10.0.1.2:8000", "sglang", { role: "prefill", roleset: "rs-b" }],
      ["10.0.2.1:8000", "sglang", { role: "decode", roleset: "rs-a" }],
      ["10.0.2.2:8000", "sglang", { role: "decode", roleset: "rs-a" }],
    ]);
    expect(pods[0]!.labels).toEqual({
      "model.aibrix.ai/name": "big",
      "role-name": "prefill",
      "roleset-name": "rs-a",
    });
    // rs-b has no decode pod: half a pair is no roleset to route to.
    expect([...completeRolesets(pods).keys()]).toEqual(["rs-a"]);
  });

  it("lists at most five problems and counts the rest", () => {
    const bad = Array.from({ length: 8 }, (_, i) => `bad${i}`);
    const msg = (() => {
      try {
        parseEndpointsFile(file(model("m", bad)));
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    })();
    expect(msg.split("; ")).toHaveLength(6);
    expect(msg).toMatch(/; and 3 more$/);
  });

  it("parses examples/endpoints.yaml", async () => {
    const text = await readFile(join(__dirname, "../../../examples/endpoints.yaml"), "utf8");
    expect(parseEndpointsFile(text).map((p) => [p.address, p.models])).toEqual([
      ["127.0.0.1:8001", ["qwen3-8b"]],
      ["127.0.0.1:8002", ["qwen3-8b"]],
      ["127.0.0.1:8003", ["qwen3-8b"]],
    ]);
  });
});

describe("watchEndpointsFile", () => {
  let dir: string;
  let path: string;
  const open: EndpointsFileWatch[] = [];
  const start = (store: ClusterStore, log: DiscoveryLog, onReload?: (r: string) => void) => {
    const w = watchEndpointsFile(path, store, log, { debounceMs: 20, ...(onReload ? { onReload } : {}) });
    open.push(w);
    return w;
  };
  /** Editors' and ConfigMaps' way: write elsewhere, rename over. */
  const replaceAtomically = async (text: string): Promise<void> => {
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  };
  const addresses = (s: ClusterSnapshot): string[] => [...s.pods.values()].map((p) => p.address);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvroute-static-"));
    path = join(dir, "endpoints.yaml");
  });
  afterEach(async () => {
    for (const w of open.splice(0)) w.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("loads at start, then follows in-place writes and rename-replace", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    const store = createClusterStore();
    const results: string[] = [];
    const w = start(store, recordingLog(), (r) => results.push(r));
    await withGuard(w.ready, "ready");
    expect(store.snapshot().loaded).toBe(true);
    expect(addresses(store.snapshot())).toEqual(["127.0.0.1:8001"]);

    let change = nextChange(store);
    await replaceAtomically(file(model("m", ["127.0.0.1:8001", "127.0.0.1:8002"])));
    expect(addresses(await change)).toEqual(["127.0.0.1:8001", "127.0.0.1:8002"]);

    change = nextChange(store);
    await writeFile(path, file(model("m", ["127.0.0.1:8003"])));
    expect(addresses(await change)).toEqual(["127.0.0.1:8003"]);
    // A reload that caught the in-place write half done may add an "error" in between; the ends are fixed.
    expect(results.slice(0, 2)).toEqual(["ok", "ok"]);
    expect(results.at(-1)).toBe("ok");
  });

  it("keeps the last good pods on a bad file, logs it once, and recovers", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    const store = createClusterStore();
    const log = recordingLog();
    const results: string[] = [];
    const w = start(store, log, (r) => results.push(r));
    await withGuard(w.ready, "ready");
    const before = store.snapshot();

    const bad = file(model("m", ["127.0.0.1"]));
    await replaceAtomically(bad);
    expect(await log.nthError(1)).toContain(`models[0].endpoints[0]: "127.0.0.1" is not host:port`);
    expect(store.snapshot()).toBe(before);

    // The same bad content again, twice, each reload awaited: no new error. Renames, not in-place writes, so no
    // reload can catch a half-written file (which would be a second, legitimately distinct, error).
    await replaceAtomically(bad);
    await log.debugCount(1);
    await replaceAtomically(bad);
    await log.debugCount(2);
    expect(log.debugs).toContain("endpoints file still rejected; already reported");
    expect(store.snapshot()).toBe(before);
    const change = nextChange(store);
    await replaceAtomically(file(model("m", ["127.0.0.1:8002"])));
    expect(addresses(await change)).toEqual(["127.0.0.1:8002"]);
    expect(log.errors).toHaveLength(1);
    expect(results).toEqual(["ok", "error", "ok"]);
  });

  it("follows a Kubernetes ConfigMap update (the ..data symlink swap)", async () => {
    // The kubelet's layout: endpoints.yaml -> ..data/endpoints.yaml, ..data -> ..<timestamp>/; an update writes a
    // new timestamped directory and renames a new symlink over ..data. endpoints.yaml itself never changes.
    const writeVersion = async (version: string, text: string): Promise<void> => {
      await mkdir(join(dir, version));
      await writeFile(join(dir, version, "endpoints.yaml"), text);
      await symlink(version, join(dir, "..data_tmp"));
      await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    };
    await writeVersion("..v1", file(model("m", ["127.0.0.1:8001"])));
    await symlink(join("..data", "endpoints.yaml"), path);
    const store = createClusterStore();
    await withGuard(start(store, recordingLog()).ready, "ready");
    expect(addresses(store.snapshot())).toEqual(["127.0.0.1:8001"]);

    const change = nextChange(store);
    await writeVersion("..v2", file(model("m", ["127.0.0.1:8002"])));
    expect(addresses(await change)).toEqual(["127.0.0.1:8002"]);
  });

  it("rejects ready, naming the file, when the file is bad at start", async () => {
    await writeFile(path, "models: []\n");
    const store = createClusterStore();
    await expect(start(store, recordingLog()).ready).rejects.toThrow(
      new RegExp(
        `endpoints file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: models: must list at least one model`,
      ),
    );
    expect(store.snapshot().loaded).toBe(false);
  });

  it("rejects ready when the file does not exist", async () => {
    const store = createClusterStore();
    await expect(start(store, recordingLog()).ready).rejects.toBeInstanceOf(EndpointsFileError);
  });

  it("stops reloading after close()", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    const closedStore = createClusterStore();
    const closed = start(closedStore, recordingLog());
    await withGuard(closed.ready, "ready");
    // A sibling watching the same file with the same debounce tells us when a reload would have happened.
    const sibling = createClusterStore();
    await withGuard(start(sibling, recordingLog()).ready, "sibling ready");
    closed.close();
    closed.close(); // idempotent

    const siblingChange = nextChange(sibling);
    await replaceAtomically(file(model("m", ["127.0.0.1:8009"])));
    expect(addresses(await siblingChange)).toEqual(["127.0.0.1:8009"]);
    expect(addresses(closedStore.snapshot())).toEqual(["127.0.0.1:8001"]);
    expect(closedStore.snapshot().version).toBe(1);
  });

  it("ignores other files in the directory", async () => {
    await writeFile(path, file(model("m", ["127.0.0.1:8001"])));
    const store = createClusterStore();
    await withGuard(start(store, recordingLog()).ready, "ready");
    // Our own directory watch shows when the unrelated write has been seen; then a real change follows.
    const seen = withGuard(
      new Promise<void>((resolve) => {
        const w = watch(dir, (_e, name) => {
          if (name === "other.yaml") {
            w.close();
            resolve();
          }
        });
      }),
      "the unrelated write",
    );
    await writeFile(join(dir, "other.yaml"), "not: endpoints\n");
    await seen;
    const change = nextChange(store);
    await replaceAtomically(file(model("m", ["127.0.0.1:8002"])));
    expect((await change).version).toBe(2);
  });
});
