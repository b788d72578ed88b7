/**
 * A value the user typed is echoed in an error cut to `QUOTE_MAX_CHARS` (as topology values
 * are), so a 1000-character argument never floods the terminal: every parser of the CLI that
 * quotes what it got.
 */

import assert from "node:assert/strict";
import { CommanderError } from "@commander-js/extra-typings";
import { parseRingsOptions } from "./bench.ts";
import { parseIommuOptions } from "./bench_iommu.ts";
import { parseNetOptions } from "./bench_net.ts";
import { VlabError } from "./errors.ts";
import { intListOption, intOption, secondsOption } from "./int_option.ts";
import { checkUpDown, impairmentWords, partitionSides } from "./lab_links.ts";
import { usageError } from "./usage.ts";

const LONG = "9".repeat(1000);
const LIMIT = 200;

/** The error `run` throws, with its message and hint each shorter than LIMIT. */
function assertCut(name: string, run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof VlabError, `${name}: threw ${String(thrown)}`);
  assert.ok(thrown.message.length < LIMIT, `${name}: message of ${thrown.message.length} chars`);
  assert.ok(thrown.hint.length < LIMIT, `${name}: hint of ${thrown.hint.length} chars`);
  assert.match(thrown.message, /…"/, `${name}: the value is cut with an ellipsis`);
}

const NET = {
  layout: "both",
  sizes: "64",
  seconds: "2",
  runs: "3",
  pings: "200",
  delays: "0",
  scale: "2",
  idleSeconds: "3",
  pollUs: "0",
  queueSize: "256",
};
const IOMMU = { modes: "none", sizes: "64", frames: "1000", runs: "2", warmup: "3" };

Deno.test("a long value is cut in the error that echoes it, as in topology files", () => {
  const cases: [string, () => unknown][] = [
    ["intOption", () => intOption("--runs", LONG, 1, 5)],
    ["intListOption", () => intListOption("--sizes", LONG, 60, 1514)],
    ["secondsOption", () => secondsOption("--timeout", LONG, 0.01, 60)],
    ["bench --layout", () => parseRingsOptions({ layout: LONG })],
    ["bench --mode", () => parseRingsOptions({ mode: LONG })],
    ["bench --batch", () => parseRingsOptions({ batch: LONG })],
    ["bench --batch item", () => parseRingsOptions({ batch: `1,${"x".repeat(1000)}` })],
    ["bench --runs", () => parseRingsOptions({ runs: LONG })],
    ["bench --queue-size", () => parseRingsOptions({ layout: "packed", queueSize: LONG })],
    ["bench net --layout", () => parseNetOptions({ ...NET, layout: LONG })],
    ["bench net --placement", () => parseNetOptions({ ...NET, placement: LONG })],
    ["bench net --csum", () => parseNetOptions({ ...NET, csum: LONG })],
    ["bench iommu --modes", () => parseIommuOptions({ ...IOMMU, modes: LONG })],
    ["KEY=VALUE", () => impairmentWords([LONG])],
    ["key twice", () => impairmentWords([`delay=${LONG}`, `delay=${LONG}`])],
    ["partition", () => partitionSides([LONG])],
    ["link up values", () => checkUpDown("up", [LONG], undefined)],
    [
      "extra arguments",
      () =>
        usageError(
          new CommanderError(
            1,
            "commander.excessArguments",
            `error: too many arguments for 'ls'. Expected 0 arguments but got 1: ${LONG}.`,
          ),
          "vlab ls",
        ),
    ],
  ];
  for (const [name, run] of cases) {
    assertCut(name, () => {
      const r = run();
      if (r instanceof VlabError) throw r; // usageError returns its error
    });
  }
});
