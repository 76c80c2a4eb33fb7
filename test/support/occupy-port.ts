/**
 * Holding a loopback port in a test: to make a bind fail (the port is taken), or to show a port is free again (a
 * bind succeeds).
 *
 * @module
 */
import net from "node:net";

/** Hold `port` on 127.0.0.1 until released; rejects when something else holds it. */
export function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", () => resolve(srv));
  });
}

/** Let go of a port taken by {@link occupy}. */
export const release = (srv: net.Server): Promise<void> =>
  new Promise((resolve) => srv.close(() => resolve()));
