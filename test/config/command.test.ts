/** Which command a `kvroute` command line names: serve by default, `--version` alone, `route` or `calibrate` first. */
import { parseCommand } from "../../src/config";

describe("parseCommand", () => {
  it.each<[string[], ReturnType<typeof parseCommand>]>([
    [[], { kind: "serve" }],
    [["--standalone", "--endpoints-config", "e.yaml"], { kind: "serve" }],
    [["--help"], { kind: "serve" }],
    [["--version"], { kind: "version" }],
    [["-v"], { kind: "version" }],
    // Not alone: a serving command line, which the settings parser then judges (an unknown flag there).
    [["--standalone", "--version"], { kind: "serve" }],
    [["route", "--model", "m", "--prompt", "p"], { kind: "route", args: ["--model", "m", "--prompt", "p"] }],
    [["--standalone", "route"], { kind: "serve" }],
    [["calibrate", "--seconds", "5"], { kind: "calibrate", args: ["--seconds", "5"] }],
  ])("%j", (argv, want) => {
    expect(parseCommand(argv)).toEqual(want);
  });
});
