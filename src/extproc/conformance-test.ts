/**
 * The Gateway API Inference Extension conformance suite's test header, honoured only in conformance test mode
 * (`--conformance-test-mode`, off by default): `test-epp-endpoint-selection`, a comma-separated list of pod IPs
 * (or `ip:port` endpoints), narrows the candidates to those pods, as the reference lightweight picker does, so
 * the suite can check that the gateway follows the picker's answer. With the mode off the header is ignored
 * (counted) and, like the system-owned headers, never forwarded upstream.
 *
 * @module
 */
import { Code, RouteError } from "../errors";

/** The request header naming the endpoints a conformance test wants chosen from. */
export const TEST_SELECTION_HEADER = "test-epp-endpoint-selection";
/** Most entries read from the header; a longer list is malformed. */
export const MAX_SELECTION_ENTRIES = 1024;
/** Longest entry read: `[` IPv6 `]:port` is at most 47 characters. */
export const MAX_SELECTION_ENTRY_LENGTH = 64;

/**
 * How a request's test header was handled (the closed label set of `kvroute_conformance_test_selection_total`):
 * `ignored` (mode off), `malformed` (400), and, decided by the director, `narrowed` (picked among the named pods)
 * or `unmatched` (no entry names a pod of the model: the header is ignored, as the reference picker documents).
 */
export type TestSelectionOutcome = "ignored" | "malformed" | "narrowed" | "unmatched";

/** The header's entries (`ip` or `ip:port`), or why there are none to use. */
export type TestSelection =
  | { readonly t: "absent" }
  | { readonly t: "malformed" }
  | { readonly t: "selection"; readonly entries: ReadonlySet<string> };

const ABSENT: TestSelection = { t: "absent" };
const MALFORMED: TestSelection = { t: "malformed" };

/** Read the header's value (undefined or only commas and blanks: absent). */
export function readTestSelection(value: string | undefined): TestSelection {
  if (value === undefined) return ABSENT;
  const entries = new Set<string>();
  for (const part of value.split(",")) {
    const entry = part.trim();
    if (entry.length === 0) continue;
    if (entry.length > MAX_SELECTION_ENTRY_LENGTH || entries.size >= MAX_SELECTION_ENTRIES) return MALFORMED;
    entries.add(entry);
  }
  return entries.size === 0 ? ABSENT : { t: "selection", entries };
}

/** The 400 for a malformed test header. */
export function malformedSelection(): RouteError {
  return new RouteError(Code.BadRequest, `the ${TEST_SELECTION_HEADER} header is malformed`, {
    errorHeader: ["x-error-test-selection", "malformed"],
  });
}
