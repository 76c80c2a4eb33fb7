/**
 * A one-line description of the machine a benchmark ran on (for reports, charts and JSON), since figures from a
 * 2-core VM and from a workstation are not comparable.
 *
 * @module
 */
import os from "node:os";

/** `<cores> × <CPU model>, Node <version>`. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU";
  return `${os.cpus().length} × ${cpu}, Node ${process.version}`;
}
