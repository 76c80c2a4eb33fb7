/**
 * Calibration of text prompts' token estimates against the engine's reported usage: the factor is the ratio of
 * decayed sums (token-weighted), bounded, per model, learned only from reported usage; the director reserves the
 * calibrated estimate on the next pick, and leaves token-id prompts (exact counts) alone.
 */
import {
  CALIBRATION_MAX_MODELS,
  createPromptTokenCalibration,
  MAX_FACTOR,
  MIN_FACTOR,
} from "../../src/routing/prompt-token-calibration";
import { fleetDirector, routeInput } from "../support/director-fixture";
import { makeFleet, makeRequest, MODEL } from "./pods";

describe("prompt-token calibration", () => {
  it("is 1 until usage is reported, then the token-weighted ratio of reported to estimated", () => {
    const c = createPromptTokenCalibration();
    expect(c.scale("m", 100)).toBe(100);
    c.observe("m", 100, undefined);
    expect(c.factor("m")).toBe(1);
    c.observe("m", 100, 400);
    expect(c.factor("m")).toBe(4);
    expect(c.scale("m", 25)).toBe(100);
    // A tiny prompt (mostly chat template) moves the token-weighted factor little (an average of ratios: 4.8).
    c.observe("m", 2, 40);
    expect(c.factor("m")).toBeGreaterThan(4);
    expect(c.factor("m")).toBeLessThan(4.5);
    expect(c.factor("other")).toBe(1);
  });

  it("follows a workload that changes, and stays within its bounds", () => {
    const c = createPromptTokenCalibration();
    for (let i = 0; i < 200; i++) c.observe("m", 100, 150);
    expect(c.factor("m")).toBeCloseTo(1.5, 5);
    c.observe("x", 10, 1_000_000);
    expect(c.factor("x")).toBe(MAX_FACTOR);
    c.observe("y", 1_000_000, 1);
    expect(c.factor("y")).toBe(MIN_FACTOR);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) c.observe("z", bad, 10);
    expect(c.factor("z")).toBe(1);
  });

  it("forgets the model calibrated first at the bound", () => {
    const c = createPromptTokenCalibration();
    for (let i = 0; i <= CALIBRATION_MAX_MODELS; i++) c.observe(`m${i}`, 1, 2);
    expect(c.factor("m0")).toBe(1);
    expect(c.factor(`m${CALIBRATION_MAX_MODELS}`)).toBe(2);
  });

  it("the director reserves the calibrated estimate after a release reports usage; token ids stay exact", () => {
    const fleet = makeFleet(1);
    const director = fleetDirector(fleet, { promptCalibration: createPromptTokenCalibration() });
    const route = (request = makeRequest(MODEL, 25)) => {
      const pick = director.route(routeInput({ requestId: "r", request }));
      if (pick.t === "none") throw new Error("expected a pick");
      return pick;
    };
    const first = route();
    expect(fleet.load.get(first.pod.key).tokens).toBe(25);
    first.release({ kind: "success", promptTokens: 100 });
    const second = route();
    expect(fleet.load.get(second.pod.key).tokens).toBe(100);
    second.release({ kind: "success" });
    const ids = route(
      makeRequest(MODEL, 25, { prompt: { t: "tokens", ids: [new Array<number>(25).fill(1)] } }),
    );
    expect(fleet.load.get(ids.pod.key).tokens).toBe(25);
  });
});
