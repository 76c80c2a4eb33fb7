/**
 * TLS helpers for tests: certificates made on the spot (nothing checked in), a certificate directory swapped the
 * way a Kubernetes Secret volume is (one atomic symlink rename, so the pair never tears by accident), and the
 * certificate a port serves, read from a raw TLS handshake over loopback.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { generate } from "selfsigned";

/** A certificate and its key, PEM. */
export interface TestPair {
  readonly cert: string;
  readonly key: string;
  readonly fingerprint: string;
}

/** The host name test certificates are made for (resolved by nobody: clients override the target name). */
export const TEST_SERVER_NAME = "kvroute.test";

/** A self-signed EC certificate for `TEST_SERVER_NAME` and 127.0.0.1. */
export async function makePair(): Promise<TestPair> {
  const pems = await generate([{ name: "commonName", value: TEST_SERVER_NAME }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: TEST_SERVER_NAME },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** A Secret-like directory: `<dir>/current/tls.crt` and `tls.key`, where `current` is a symlink swapped whole. */
export class CertDir {
  private version = 0;
  readonly certPath: string;
  readonly keyPath: string;

  constructor(private readonly dir: string) {
    this.certPath = join(dir, "current", "tls.crt");
    this.keyPath = join(dir, "current", "tls.key");
  }

  /** Make `cert`/`key` the files' content in one step (a new version directory, then an atomic rename). */
  swap(cert: string, key: string): void {
    const version = `v${++this.version}`;
    mkdirSync(join(this.dir, version));
    writeFileSync(join(this.dir, version, "tls.crt"), cert);
    writeFileSync(join(this.dir, version, "tls.key"), key);
    const link = join(this.dir, `current.${version}`);
    symlinkSync(version, link);
    renameSync(link, join(this.dir, "current"));
  }
}

/** The certificate served on `127.0.0.1:port` (not verified: this only looks). */
export function servedCertificate(port: number, servername = TEST_SERVER_NAME): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false,
    });
    socket.once("secureConnect", () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error("no certificate served"));
    });
    socket.once("error", reject);
  });
}
