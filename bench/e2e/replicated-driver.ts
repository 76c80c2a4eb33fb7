/**
 * Envoy in front of several kvroute replicas: one `EnvoyDriver` per replica and a round-robin pick per
 * request, as Envoy's default `ROUND_ROBIN` load balancing does when the ext_proc cluster (a kvroute Service)
 * has several endpoints and every HTTP request opens its own ext_proc stream. Each replica keeps its own
 * state (indexes, in-flight counts), so this is active-active with partitioned router state, which llm-d
 * discourages for approximate prefix routing (llm-d-router's `docs/operations.md`).
 *
 * @module
 */
import { EnvoyDriver } from "./envoy-driver";
import type { DriverOptions, DriverRequest, DriverResult } from "./driver-types";

/** Plays one Envoy that load-balances its ext_proc streams over several kvroute replicas. */
export class ReplicatedDriver {
  private readonly drivers: EnvoyDriver[];
  private readonly sent: number[];
  private next = 0;

  /** `base` applies to every replica; `extProcAddresses` lists them (at least one). */
  constructor(extProcAddresses: readonly string[], base: Omit<DriverOptions, "extProcAddress"> = {}) {
    if (extProcAddresses.length === 0)
      throw new Error("ReplicatedDriver needs at least one ext_proc address");
    this.drivers = extProcAddresses.map((a) => new EnvoyDriver({ ...base, extProcAddress: a }));
    this.sent = extProcAddresses.map(() => 0);
  }

  /** Send `req` through the next replica in turn. Never rejects (see `EnvoyDriver.send`). */
  send(req: DriverRequest): Promise<DriverResult> {
    const i = this.next;
    this.next = (this.next + 1) % this.drivers.length;
    this.sent[i] = (this.sent[i] ?? 0) + 1;
    return (this.drivers[i] as EnvoyDriver).send(req);
  }

  /** Requests sent through each replica so far, in address order. */
  perReplica(): number[] {
    return [...this.sent];
  }

  /** Close every replica's driver. */
  close(): void {
    for (const d of this.drivers) d.close();
  }
}
