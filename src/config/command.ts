/**
 * Which command a `kvroute` command line asks for: serve (the default), print the version, route one request
 * through a running kvroute (`kvroute route ...`), or measure a pod's prefill throughput (`kvroute calibrate ...`);
 * the last two get their own flags handed on unread. Lives here because this is
 * the one module that reads `process.argv`.
 *
 * @module
 */

/** A command line's command. */
export type Command =
  | { readonly kind: "serve" }
  | { readonly kind: "version" }
  | { readonly kind: "route"; readonly args: readonly string[] }
  | { readonly kind: "calibrate"; readonly args: readonly string[] };

const VERSION_FLAGS = new Set(["--version", "-v"]);

/**
 * The command of `argv` (without `node` and the script). `route` or `calibrate` must come first; `--version`/`-v` counts only as
 * the whole command line, so it never shadows a serving flag's value.
 */
export function parseCommand(argv: readonly string[]): Command {
  if (argv[0] === "route") return { kind: "route", args: argv.slice(1) };
  if (argv[0] === "calibrate") return { kind: "calibrate", args: argv.slice(1) };
  if (argv.length === 1 && VERSION_FLAGS.has(argv[0] as string)) return { kind: "version" };
  return { kind: "serve" };
}

/** {@link parseCommand} on this process's command line. */
export function commandFromProcess(): Command {
  return parseCommand(process.argv.slice(2));
}
