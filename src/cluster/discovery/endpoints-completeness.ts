/**
 * When is an endpoints file complete? A writer that is not atomic (`echo > file`, a `cp`, an editor saving in
 * place, a sync tool) leaves a window in which the file holds only the start of the new text. A cut through an
 * endpoint can leave valid YAML with a bogus endpoint in it: `- 127.0.0.1:18004` cut after `180` is the
 * perfectly good `127.0.0.1:180`.
 *
 * The rule: **a complete endpoints file ends with a newline**. Every YAML writer and editor ends its output with
 * one, a cut almost never falls exactly on a line end, and when it does it only loses whole lines (a missing
 * endpoint or model, or a key left without a value, which the schema refuses) and never shortens a value. A
 * file without the final newline is refused like any other bad file: at start (a crash-loop that names the
 * reason beats a fleet with a bogus pod) and on reload (the last good fleet stays). The whole document must also
 * parse (YAML errors and duplicate keys refuse it; see `endpoints-file.ts`).
 *
 * To make the refusal explainable, the message names the endpoints that look like a cut: a new endpoint whose
 * host equals a vanished one's and whose port's digits are a strict prefix of its port's, or whose port equals and
 * whose host is a strict prefix of its host.
 *
 * @module
 */
import type { Pod } from "../pod";

/** True when `text` ends with a newline: written to the end, not cut by a write in progress. */
export function endsWithNewline(text: string): boolean {
  return text.endsWith("\n");
}

/** How many look-alikes a message names at most (logs stay bounded). */
const MAX_NAMED = 3;

/**
 * Endpoints of `next` that look like a cut of an endpoint of `previous` which `next` no longer has, as
 * `"127.0.0.1:180 (cut from 127.0.0.1:18004?)"`; at most {@link MAX_NAMED}. Linear in the two fleets (maps by
 * host and by port).
 */
export function truncatedLookalikes(previous: Iterable<Pod>, next: readonly Pod[]): string[] {
  const nextAddresses = new Set(next.map((p) => p.address));
  const goneByHost = new Map<string, Pod[]>();
  const goneByPort = new Map<number, Pod[]>();
  for (const p of previous) {
    if (nextAddresses.has(p.address)) continue;
    push(goneByHost, p.ip, p);
    push(goneByPort, p.port, p);
  }
  const out: string[] = [];
  for (const p of next) {
    if (out.length >= MAX_NAMED) break;
    const port = String(p.port);
    const gone =
      goneByHost.get(p.ip)?.find((g) => isStrictPrefix(port, String(g.port))) ??
      goneByPort.get(p.port)?.find((g) => isStrictPrefix(p.ip, g.ip));
    if (gone) out.push(`${p.address} (cut from ${gone.address}?)`);
  }
  return out;
}

function push<K>(map: Map<K, Pod[]>, key: K, pod: Pod): void {
  const list = map.get(key);
  if (list) list.push(pod);
  else map.set(key, [pod]);
}

const isStrictPrefix = (short: string, long: string): boolean =>
  short.length < long.length && long.startsWith(short);
