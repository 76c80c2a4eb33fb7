/**
 * No traffic leaves the machine (issue 12, point 4): every address a test or benchmark configuration hands a
 * kvroute it may dial (pods it scrapes, ZeroMQ KV-event publishers, a remote tokenizer, Redis) is a literal in
 * 127.0.0.0/8. The rules, what is scanned and the `loopback-check: not-dialled` marker are described in
 * `support/loopback-scan.ts`; the fixtures below prove that each rule catches what it is for and lets alone what it
 * must not flag.
 *
 * @module
 */
import path from "node:path";
import {
  NOT_DIALLED_MARKER,
  countScannedFiles,
  isLoopbackLiteral,
  scanRepository,
  scanText,
} from "./support/loopback-scan";

const ROOT = path.resolve(__dirname, "..");
/** This file and the scanner hold deliberate out-of-range fixtures. */
const SELF = ["test/loopback-endpoints.test.ts", "test/support/loopback-scan.ts"];

const addresses = (file: string, text: string, kind: Parameters<typeof scanText>[2]): string[] =>
  scanText(file, text, kind).map((f) => `${f.rule} ${f.address}`);

describe("loopback-only endpoints in tests and benchmarks", () => {
  it("every scanned configuration and source dials only 127.0.0.0/8", () => {
    const counted = countScannedFiles(ROOT);
    // The scan must have seen the repository (a wrong root would pass vacuously).
    expect(counted.config).toBeGreaterThanOrEqual(3);
    expect(counted.source).toBeGreaterThanOrEqual(100);
    const findings = scanRepository(ROOT, SELF).map((f) => `${f.file}:${f.line} ${f.rule} ${f.address}`);
    expect(findings).toEqual([]);
  });

  it("only literal 127.0.0.0/8 addresses count as loopback", () => {
    expect(isLoopbackLiteral("127.0.0.1")).toBe(true);
    expect(isLoopbackLiteral("127.255.255.254")).toBe(true);
    expect(isLoopbackLiteral("128.0.0.1")).toBe(false);
    expect(isLoopbackLiteral("10.0.0.1")).toBe(false);
    expect(isLoopbackLiteral("127.0.0.256")).toBe(false);
    // A name goes through the resolver, and Node may pick ::1: not allowed.
    expect(isLoopbackLiteral("localhost")).toBe(false);
    expect(isLoopbackLiteral("[::1]")).toBe(false);
  });

  it("flags pods, Redis and hosts outside loopback in an endpoints file or chart values", () => {
    const yaml = [
      "models:",
      "  - name: m1",
      "    endpoints:",
      '      - "10.0.0.1:8000"',
      "      - localhost:8001",
      "      - 127.0.0.1:8002",
      '    other: ["vllm-0.pods.svc:8000"]',
      "redis:",
      "  host: redis-master.llm.svc",
      "  url: redis://:pw@redis:6379/0",
      "# a comment naming 10.9.9.9:80 configures nothing",
    ].join("\n");
    expect(addresses("examples/x.yaml", yaml, "config")).toEqual([
      "ipv4 10.0.0.1",
      "host:port localhost",
      "host:port vllm-0.pods.svc",
      "host key redis-master.llm.svc",
      "url redis",
    ]);
    const json = JSON.stringify({ models: { m: { type: "remote", endpoint: "http://192.168.1.20:8000" } } });
    expect(addresses("test/x.json", json, "config")).toEqual(["url 192.168.1.20", "ipv4 192.168.1.20"]);
  });

  it("flags URLs and --redis-host values in sources; IPv4 literals only where pods are dialled", () => {
    const source = [
      'const args = ["--redis-host", "10.1.2.3", "--kv-events-port", String(port)];',
      'run(["--redis-host=redis.internal"]);',
      'const pub = "tcp://192.168.1.2:5557";',
      "const ok = `http://127.0.0.1:${port}/metrics`;",
      "const computed = `tcp://${host}:${port}`;",
      'const pods = [pod("p1", "10.0.0.1", ["m1"])];',
      'const spec = { type: "remote", endpoint: "10.0.0.7:8000" }, request = { endpoint: "chat-completions" };',
      'const forged = { "x-gateway-destination-endpoint": "6.6.6.6:1" };',
    ].join("\n");
    expect(addresses("test/x.test.ts", source, "source")).toEqual([
      "--redis-host 10.1.2.3",
      "--redis-host redis.internal",
      "url 192.168.1.2",
      "endpoint key 10.0.0.7",
    ]);
    expect(addresses("bench/x.ts", source, "dialling-source")).toEqual([
      "--redis-host 10.1.2.3",
      "ipv4 10.1.2.3",
      "--redis-host redis.internal",
      "url 192.168.1.2",
      "ipv4 192.168.1.2",
      "ipv4 10.0.0.1",
      "endpoint key 10.0.0.7",
      "ipv4 10.0.0.7",
      // In a file that starts real kvroutes even a header value needs its marker.
      "ipv4 6.6.6.6",
    ]);
  });

  it("a literal marked as never dialled is left out, on its line or the line above, and nowhere else", () => {
    const source = [
      `const header = "203.0.113.7"; // ${NOT_DIALLED_MARKER} (a header value)`,
      `// ${NOT_DIALLED_MARKER} (only formatted)`,
      'expect(format("10.0.0.5")).toBe("tcp://10.0.0.5:5558");',
      'const pod = "10.0.0.6:8000";',
    ].join("\n");
    expect(scanText("bench/x.ts", source, "dialling-source")).toEqual([
      { file: "bench/x.ts", line: 4, address: "10.0.0.6", rule: "ipv4" },
    ]);
  });
});
