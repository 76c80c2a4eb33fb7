/**
 * A stack of disposers: each started resource registers how to close it right after it has started, so that
 * whatever ends the server — a drain, or a start failing half-way (a port taken, a bad setting found late) — closes
 * exactly what was started, once, and nothing else.
 *
 * Disposal runs newest first (the reverse of the starts). A stack can hold *stages*, child stacks declared up front
 * in the reverse of the order they must close in; a resource then joins its stage when it starts, wherever in the
 * start-up that is. Every disposer runs even when an earlier one throws or rejects; each failure is reported on its
 * own, and disposal itself never rejects.
 *
 * Node 24 has `AsyncDisposableStack`, but it reports failures as one nested `SuppressedError` chain without the
 * pieces' names, has no stages, and its types need the `esnext.disposable` lib this project does not compile with;
 * so this small one.
 *
 * @module
 */
import { closeEach } from "./closing";
import type { CloseFailure, Closer } from "./closing";

type Entry =
  { readonly t: "piece"; readonly closer: Closer } | { readonly t: "stage"; readonly stack: DisposerStack };

/** Registers the disposer of a piece that has just started, under its name (for the log and the close hooks). */
export type RegisterPiece = (name: string, close: () => unknown) => void;

/** An ordered set of disposers; see the module comment. */
export class DisposerStack {
  private entries: Entry[] = [];
  private disposed: Promise<void> | undefined;

  /**
   * Register the disposer of a resource that has just started. When the stack is already disposed (a late start
   * racing a stop), the resource is disposed at once, so it cannot outlive the stack.
   */
  defer(name: string, dispose: () => unknown): void {
    if (this.disposed !== undefined) {
      void closeEach([{ name, close: dispose }], () => undefined);
      return;
    }
    this.entries.push({ t: "piece", closer: { name, close: dispose } });
  }

  /** A child stack disposed in this one's place among its entries (stages are declared before their pieces start). */
  stage(): DisposerStack {
    const stack = new DisposerStack();
    this.entries.push({ t: "stage", stack });
    return stack;
  }

  /** Every registered disposer, in the order `dispose` runs them (stages expanded). */
  closers(): Closer[] {
    const out: Closer[] = [];
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.t === "piece") out.push(e.closer);
      else out.push(...e.stack.closers());
    }
    return out;
  }

  /**
   * Run every disposer newest first, each once, awaiting each; failures go to `onFailure`. Never rejects.
   * Idempotent: a second call returns the first call's promise.
   */
  dispose(onFailure: CloseFailure): Promise<void> {
    if (this.disposed !== undefined) return this.disposed;
    const all = this.closers();
    this.markDisposed();
    return (this.disposed = closeEach(all, onFailure));
  }

  private markDisposed(): void {
    this.disposed ??= Promise.resolve();
    for (const e of this.entries) if (e.t === "stage") e.stack.markDisposed();
    this.entries = [];
  }
}
