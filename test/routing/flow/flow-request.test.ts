/**
 * Flow control's request headers: the priority band (explicit header, else a configured objective, else 0), the
 * TTFT SLO deadline, and the objective-priority setting, each bounded and refused clearly when malformed.
 */
import { Code, RouteError } from "../../../src/errors";
import { deadlineOf, parseObjectivePriorities, priorityOf } from "../../../src/routing/flow/flow-request";
import type { HeaderView } from "../../../src/routing/framework";

const view = (h: Record<string, string>): HeaderView => ({ get: (n) => h[n] });
const objectives = parseObjectivePriorities("chat=10, batch=-5");

describe("flow request headers", () => {
  it("priority: explicit header, else the objective's configured priority, else 0", () => {
    expect(priorityOf(view({ "x-kvroute-priority": " 7 " }), objectives)).toBe(7);
    expect(priorityOf(view({ "x-kvroute-priority": "-100" }), objectives)).toBe(-100);
    expect(priorityOf(view({ "x-gateway-inference-objective": "batch" }), objectives)).toBe(-5);
    expect(
      priorityOf(view({ "x-gateway-inference-objective": "chat", "x-kvroute-priority": "1" }), objectives),
    ).toBe(1);
    expect(priorityOf(view({ "x-gateway-inference-objective": "unknown" }), objectives)).toBe(0);
    expect(priorityOf(view({}), objectives)).toBe(0);
  });

  it.each(["high", "1.5", "101", "-101", "", "1e2", "9".repeat(300)])("priority %j is a 400", (value) => {
    let err: unknown;
    try {
      priorityOf(view({ "x-kvroute-priority": value }), objectives);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouteError);
    expect((err as RouteError).code).toBe(Code.BadRequest);
    expect((err as RouteError).message).toContain("x-kvroute-priority");
  });

  it("deadline: arrival plus the TTFT SLO; absent: none; malformed: 400", () => {
    expect(deadlineOf(view({ "x-kvroute-ttft-slo-ms": "250" }), 1000)).toBe(1250);
    expect(deadlineOf(view({}), 1000)).toBeUndefined();
    expect(() => deadlineOf(view({ "x-kvroute-ttft-slo-ms": "0" }), 0)).toThrow("x-kvroute-ttft-slo-ms");
    expect(() => deadlineOf(view({ "x-kvroute-ttft-slo-ms": "soon" }), 0)).toThrow(RouteError);
  });

  it("the objective setting refuses entries without a name or a priority in range", () => {
    expect([...parseObjectivePriorities("")]).toEqual([]);
    expect(() => parseObjectivePriorities("chat")).toThrow('"chat"');
    expect(() => parseObjectivePriorities("=3")).toThrow();
    expect(() => parseObjectivePriorities("chat=200")).toThrow("-100 to 100");
  });
});
