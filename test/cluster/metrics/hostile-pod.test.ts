/**
 * The scraper's HTTP client against a hostile pod on loopback: a raw `net` server that answers the scrape with
 * bytes no HTTP server would send. Each exchange must end in a defined, counted outcome, within the client's own
 * timeout, holding no more than its bounds.
 */
import { ResponseReader } from "../../../src/cluster/metrics/http-response";

describe("ResponseReader fed a flood of interim responses", () => {
  it("skips 100 000 of them in one feed without a stack frame each, then reads the real answer", () => {
    const flood = "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(100_000);
    const r = new ResponseReader(1 << 20);
    const out = r.feed(Buffer.from(`${flood}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`, "latin1"));
    expect(out).toMatchObject({ t: "done", status: 200 });
    expect(out.t === "done" && out.body.toString()).toBe("ok");
  });
});
