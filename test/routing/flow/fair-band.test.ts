import { FairBand, type BandItem } from "../../../src/routing/flow/fair-band";

const item = (seq: number, deadline = Infinity): BandItem => ({ seq, deadline, heapIndex: -1 });

describe("fair band", () => {
  it("deletes a flow the moment its last request leaves, by dispatch or by removal", () => {
    const band = new FairBand<BandItem>("fcfs");
    const [a1, a2, b1] = [item(1), item(2), item(3)];
    const a = band.add("a", a1);
    expect(band.add("a", a2)).toBe(a);
    const b = band.add("b", b1);
    expect([band.count, band.flowCount]).toEqual([3, 2]);
    expect(band.remove(b, b1)).toBe(true);
    expect(band.remove(b, b1)).toBe(false);
    expect([band.count, band.flowCount]).toEqual([2, 1]);
    expect(band.take(a)).toBe(a1);
    expect(band.take(a)).toBe(a2);
    expect([band.count, band.flowCount, band.next("round-robin", () => 0)]).toEqual([0, 0, undefined]);
    // A flow that comes back is a new flow at the back of the ring.
    const c = band.add("c", item(4));
    expect(band.add("a", item(5))).not.toBe(a);
    expect(band.next("round-robin", () => 0)).toBe(c);
  });
});
