/**
 * The scraper's HTTP client against a hostile pod on loopback: a raw `net` server that answers the scrape with
 * bytes no HTTP server would send. Each exchange must end in a defined, counted outcome, within the client's own
 * timeout, holding no more than its bounds.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import {
  CATALOGUE_SAMPLE_NAMES,
  MAX_LISTED_ADAPTERS,
  engineMetricsFromText,
} from "../../../src/cluster/metrics/catalogue";
import type { GetOutcome } from "../../../src/cluster/metrics/http-get";
import { MAX_HEAD_BYTES, ResponseReader, bodyStore } from "../../../src/cluster/metrics/http-response";
import { createMetricsClient } from "../../../src/cluster/metrics/metrics-client";
import type { MetricsClient } from "../../../src/cluster/metrics/metrics-client";
import { parsePrometheusText } from "../../../src/cluster/metrics/prometheus-text";

const servers: net.Server[] = [];
const clients: MetricsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A pod that answers every request on every connection with `answer` (written in one piece). */
async function hostilePod(answer: Buffer): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on("error", () => undefined);
    socket.on("data", () => socket.write(answer));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function scrape(port: number): Promise<GetOutcome> {
  const c = createMetricsClient();
  clients.push(c);
  return new Promise((resolve) =>
    c.get(
      "pod",
      { host: "127.0.0.1", port, path: "/metrics" },
      { timeoutMs: 5000, maxBodyBytes: 1 << 20 },
      resolve,
    ),
  );
}

describe("a hostile pod", () => {
  it("is refused a head over the bound when it arrives whole in one read, as when it trickles in", async () => {
    // ~40 KB of headers and the end of the head, all in one write (one or two socket reads).
    const head = `HTTP/1.1 200 OK\r\nX-Pad: ${"a".repeat(40_000)}\r\nContent-Length: 2\r\n\r\nok`;
    expect(head.length).toBeGreaterThan(MAX_HEAD_BYTES);
    const port = await hostilePod(Buffer.from(head, "latin1"));
    expect(await scrape(port)).toMatchObject({
      t: "failed",
      reason: "http-error",
      message: "HPE_HEADER_OVERFLOW",
    });
  });
});

describe("ResponseReader fed a flood of interim responses", () => {
  it("skips 100 000 of them in one feed without a stack frame each, then reads the real answer", () => {
    const flood = "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(100_000);
    const r = new ResponseReader(1 << 20);
    const out = r.feed(Buffer.from(`${flood}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`, "latin1"));
    expect(out).toMatchObject({ t: "done", status: 200 });
    expect(out.t === "done" && out.body.toString()).toBe("ok");
  });
});

describe("ResponseReader told of a large body that does not come", () => {
  const LIMIT = 8 * 1024 * 1024;
  it.each([
    ["a content-length", "Content-Length: 8388000\r\n\r\n"],
    ["a chunk size", "Transfer-Encoding: chunked\r\n\r\nffffffffffff\r\n"],
  ])(
    "does not size its store by %s it has not received (a few bytes cannot cost the body limit)",
    (_t, rest) => {
      const store = bodyStore();
      const r = new ResponseReader(LIMIT, store);
      // The body's first byte with the head, a second in the next read: the store is sized on the second.
      expect(r.feed(Buffer.from(`HTTP/1.1 200 OK\r\n${rest}a`, "latin1"))).toEqual({ t: "more" });
      expect(r.feed(Buffer.from("b"))).toEqual({ t: "more" });
      expect(store.buf.subarray(0, 2).toString()).toBe("ab");
      expect(store.buf.length).toBeLessThanOrEqual(128 * 1024);
    },
  );
});

describe("a catalogue sample with a huge label set", () => {
  // Duplicate label names were found by comparing each name with every earlier one: 40 000 labels (390 KB) took
  // ~2 s, an 8 MiB body of one such line ~25 minutes of the single scrape thread (every pod's scrape stalled).
  // 200 000 labels (~2.3 MB) now parse in one pass; the quadratic check took about a minute (past Jest's timeout).
  const name = "vllm:num_requests_running";
  const labels = (n: number): string => Array.from({ length: n }, (_, i) => `l${i}="${i % 10}"`).join(",");

  it("is read in one pass, every label kept, in scrape (skim) mode", () => {
    expect(CATALOGUE_SAMPLE_NAMES.has(name)).toBe(true);
    const e = parsePrometheusText(`${name}{${labels(200_000)}} 3\n`, {
      only: CATALOGUE_SAMPLE_NAMES,
      skim: true,
    });
    const sample = e.samples.get(name)?.[0];
    expect(sample?.value).toBe(3);
    expect(sample?.labels.length).toBe(400_000);
    expect(sample?.labels.slice(-2)).toEqual(["l199999", "9"]);
  });

  it("is still refused when a name repeats, early or late in the set", () => {
    for (const set of [`${labels(200_000)},l0="x"`, `l7="x",${labels(200_000)}`, `${labels(3)},l1="x"`]) {
      const e = parsePrometheusText(`${name}{${set}} 3\n`, { only: CATALOGUE_SAMPLE_NAMES, skim: true });
      expect([e.samples.has(name), e.malformedLines]).toEqual([false, 1]);
    }
  });
});

describe("a LoRA adapter list of a million names", () => {
  // Each routing decision for a LoRA request scans a pod's running and waiting lists and builds a set of them
  // (`loraTier`): a 5 MB body listing 10⁶ names cost ~200 ms of the main thread per such pod, per request.
  it("keeps at most MAX_LISTED_ADAPTERS names of each list, the first ones", () => {
    const names = Array.from({ length: 1_000_000 }, (_, i) => `a${i}`);
    const body =
      `vllm:lora_requests_info{max_lora="4",running_lora_adapters="${names.join(",")}",` +
      `waiting_lora_adapters="${names.slice(0, 3).join(",")}"} 1\n`;
    const m = engineMetricsFromText(
      parsePrometheusText(body, { only: CATALOGUE_SAMPLE_NAMES, skim: true }),
      5,
    );
    expect(m.lora?.running).toEqual(names.slice(0, MAX_LISTED_ADAPTERS));
    expect(m.lora?.waiting).toEqual(["a0", "a1", "a2"]);
    expect(MAX_LISTED_ADAPTERS).toBeGreaterThanOrEqual(256);
  });
});
