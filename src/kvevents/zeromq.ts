/**
 * `zeromq`, loaded when the first socket is made: only a kvroute following KV events opens one, and loading the
 * package (its native addon and wrappers) would cost every other process, and each test file that builds a
 * server, CPU for nothing. Sockets are made per connection attempt and per replay, never per message.
 *
 * @module
 */
import type * as Zeromq from "zeromq";

export function loadZeromq(): typeof Zeromq {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see the module comment)
  return require("zeromq") as typeof Zeromq;
}
