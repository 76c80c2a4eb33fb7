/**
 * TLS for the ext_proc gRPC port, as the Gateway API Inference Extension's reference picker serves it: either a
 * certificate/key pair of PEM files (a mounted cert-manager Secret), re-read while running so a rotation needs no
 * restart, or a self-signed certificate made in memory at start. Plaintext stays the default (no TLS: `undefined`).
 *
 * Reloading uses grpc-js's own `FileWatcherCertificateProvider` (it polls the two files) behind a gate that checks
 * each new pair before the server sees it: grpc-js alone would install a torn pair (certificate of the new Secret,
 * key of the old) and then drop every connection. A pair that does not parse, or whose key does not match its
 * certificate, keeps the previous one and is reported once (`rejected`) until the files change again.
 *
 * @module
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { createSecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { experimental } from "@grpc/grpc-js";
import type { Config } from "./config";

type IdentityUpdate = experimental.IdentityCertificateUpdate;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** How often the certificate files are re-read, ms. A Kubernetes Secret volume itself lags by up to a minute. */
export const TLS_REFRESH_INTERVAL_MS = 10_000;

/** What happened to a changed certificate pair on disk. */
export type TlsReloadResult = "applied" | "rejected";

/** Told of every changed pair (not of unchanged re-reads). */
export interface TlsReloadEvent {
  readonly result: TlsReloadResult;
  /** Why a pair was rejected (it keeps the previous one). */
  readonly reason?: string;
  /** SHA-256 fingerprint of the certificate now served. */
  readonly fingerprint: string;
}

/** TLS credentials for the gRPC port, and how to stop watching the files. */
export interface GrpcTls {
  readonly credentials: grpc.ServerCredentials;
  /** Where the certificate came from (for the start-up log line). */
  readonly source: "files" | "self-signed";
  /** SHA-256 fingerprint of the certificate served at start. */
  readonly fingerprint: string;
  /** Stop re-reading the files. Idempotent. */
  close(): void;
}

/** Options besides the configuration. */
export interface GrpcTlsOptions {
  readonly onReload?: (event: TlsReloadEvent) => void;
  /** Poll interval of the files, ms (tests shorten it). Default `TLS_REFRESH_INTERVAL_MS`. */
  readonly refreshIntervalMs?: number;
}

/**
 * TLS credentials from the configuration, or `undefined` for plaintext.
 *
 * @throws Error naming `--grpc-tls-cert`/`--grpc-tls-key` when the files cannot be read or do not form a pair.
 */
export async function createGrpcTls(
  config: Config,
  options: GrpcTlsOptions = {},
): Promise<GrpcTls | undefined> {
  if (config.grpcTlsSelfSigned) return selfSigned();
  const { grpcTlsCertPath: certPath, grpcTlsKeyPath: keyPath } = config;
  if (certPath === undefined || keyPath === undefined) return undefined;
  return fromFiles(certPath, keyPath, options);
}

/** Why `cert` and `key` cannot serve TLS together, or `undefined` when they can. */
export function pairProblem(cert: Buffer, key: Buffer): string | undefined {
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return "the private key does not match the certificate";
    // What the TLS server itself will do with the pair (a chain with a broken second certificate fails here).
    createSecureContext({ cert, key });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function fingerprintOf(cert: Buffer | string): string {
  return new X509Certificate(cert).fingerprint256;
}

async function selfSigned(): Promise<GrpcTls> {
  const name = hostname();
  // EC P-256: generated in milliseconds, and accepted by Envoy. Ten years: it is never rotated, only replaced by
  // a restart, so it must not expire under a long-lived pod.
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate.getTime() + 10 * 365 * 24 * 3600 * 1000);
  // Loaded here, not at the top: the library takes ~80 ms to load and only this option needs it.
  const { generate } = await import("selfsigned");
  const pems = await generate([{ name: "commonName", value: "kvroute" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "kvroute" },
          { type: 2, value: "localhost" },
          ...(name === "localhost" || name === "kvroute" ? [] : [{ type: 2 as const, value: name }]),
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  const credentials = grpc.ServerCredentials.createSsl(null, [
    { cert_chain: Buffer.from(pems.cert), private_key: Buffer.from(pems.private) },
  ]);
  return {
    credentials,
    source: "self-signed",
    fingerprint: fingerprintOf(pems.cert),
    close: () => undefined,
  };
}

function fromFiles(certPath: string, keyPath: string, options: GrpcTlsOptions): GrpcTls {
  let initial: IdentityUpdate;
  try {
    initial = { certificate: readFileSync(certPath), privateKey: readFileSync(keyPath) };
  } catch (e) {
    throw new Error(`--grpc-tls-cert/--grpc-tls-key: cannot read: ${(e as Error).message}`, { cause: e });
  }
  const problem = pairProblem(initial.certificate, initial.privateKey);
  if (problem !== undefined) {
    throw new Error(
      `--grpc-tls-cert/--grpc-tls-key (${certPath}, ${keyPath}): not a usable pair: ${problem}`,
    );
  }
  const watcher = new experimental.FileWatcherCertificateProvider({
    certificateFile: certPath,
    privateKeyFile: keyPath,
    refreshIntervalMs: options.refreshIntervalMs ?? TLS_REFRESH_INTERVAL_MS,
  });
  const gate = new CheckedIdentityProvider(initial, watcher, options.onReload ?? (() => undefined));
  // grpc-js names this function's parameters (ca, identity) but passes the first on as the identity provider,
  // as its types say (the first is required, the second nullable). No CA: clients are not asked for certificates.
  const credentials = experimental.createCertificateProviderServerCredentials(gate, null, false);
  return {
    credentials,
    source: "files",
    fingerprint: fingerprintOf(initial.certificate),
    close: () => gate.close(),
  };
}

/**
 * An identity provider that passes on only pairs that work, starting from one checked at start. grpc-js's server
 * subscribes when it listens and unsubscribes when it closes; the file watcher runs only while subscribed.
 */
class CheckedIdentityProvider implements experimental.CertificateProvider {
  private readonly listeners = new Set<IdentityListener>();
  /** The files' content last rejected, so a bad pair left on disk is reported once, not at every re-read. */
  private rejected: IdentityUpdate | null | undefined;
  private closed = false;
  private readonly onFiles = (update: IdentityUpdate | null): void => this.consider(update);

  constructor(
    private current: IdentityUpdate,
    private readonly watcher: experimental.FileWatcherCertificateProvider,
    private readonly onReload: (event: TlsReloadEvent) => void,
  ) {}

  addIdentityCertificateListener(listener: IdentityListener): void {
    if (this.closed) return;
    if (this.listeners.size === 0) this.watcher.addIdentityCertificateListener(this.onFiles);
    this.listeners.add(listener);
    // Later, as grpc-js's own providers do: the server registers its watcher only after subscribing.
    process.nextTick(() => {
      if (this.listeners.has(listener)) listener(this.current);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.watcher.removeIdentityCertificateListener(this.onFiles);
  }

  // No CA certificates: the credentials are made without a CA provider, so grpc-js never asks.
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.watcher.removeIdentityCertificateListener(this.onFiles);
  }

  private consider(update: IdentityUpdate | null): void {
    if (update !== null && same(update, this.current)) {
      this.rejected = undefined;
      return;
    }
    if (sameOrBothNull(update, this.rejected)) return;
    const problem =
      update === null
        ? "a certificate file could not be read"
        : pairProblem(update.certificate, update.privateKey);
    const fingerprint = fingerprintOf(this.current.certificate);
    if (update === null || problem !== undefined) {
      this.rejected = update;
      this.onReload({ result: "rejected", reason: problem ?? "unknown", fingerprint });
      return;
    }
    this.current = update;
    this.rejected = undefined;
    this.onReload({ result: "applied", fingerprint: fingerprintOf(update.certificate) });
    for (const listener of this.listeners) listener(update);
  }
}

function same(a: IdentityUpdate, b: IdentityUpdate): boolean {
  return a.certificate.equals(b.certificate) && a.privateKey.equals(b.privateKey);
}

function sameOrBothNull(a: IdentityUpdate | null, b: IdentityUpdate | null | undefined): boolean {
  if (b === undefined) return false;
  if (a === null || b === null) return a === b;
  return same(a, b);
}
