import assert from "node:assert/strict";
import { closestName as topologyClosestName } from "../lab/topology/issues.ts";
import {
  closestName,
  EXIT_CODE_OF,
  EXIT_CODES,
  formatError,
  INTERNAL_ERROR_HINT,
  ioReason,
  isClosedStdout,
  OutputError,
  toVlabError,
  VlabError,
} from "./errors.ts";

Deno.test("a VlabError carries its code, hint and the exit code of its code", () => {
  const error = new VlabError(
    "bad-option",
    'Cannot run bench: --runs must be an integer, got "x"',
    {
      hint: "Give a number of runs such as --runs 5",
    },
  );
  assert.ok(error instanceof Error);
  assert.equal(error.name, "VlabError");
  assert.equal(error.code, "bad-option");
  assert.equal(error.hint, "Give a number of runs such as --runs 5");
  assert.equal(error.exitCode, 2);
});

Deno.test("exit codes: 2 for usage and bad options, 1 for failures while running", () => {
  assert.deepEqual(EXIT_CODES, {
    success: 0,
    failure: 1,
    usage: 2,
    drillNotRun: 3,
    interrupted: 130,
  });
  assert.equal(EXIT_CODE_OF["usage"], 2);
  assert.equal(EXIT_CODE_OF["bad-option"], 2);
  assert.equal(EXIT_CODE_OF["bench-failed"], 1);
  assert.equal(EXIT_CODE_OF["missing-tool"], 1);
  assert.equal(EXIT_CODE_OF["write-failed"], 1);
  assert.equal(EXIT_CODE_OF["internal"], 1);
  // A command Ctrl-C stopped before it finished its job (`up -d` while the lab starts).
  assert.equal(EXIT_CODE_OF["interrupted"], 130);
  // A drill that did not run is not a verdict: never 1 (failed) nor 2 (invalid).
  assert.equal(EXIT_CODE_OF["drill-not-run"], 3);
});

Deno.test("formatError renders exactly a vlab: line and a hint: line", () => {
  const text = formatError(
    new VlabError("usage", 'Unknown command "bnech" for "vlab"', { hint: "Did you mean bench?" }),
  );
  assert.equal(text, 'vlab: Unknown command "bnech" for "vlab"\nhint: Did you mean bench?');
});

Deno.test("formatError keeps each part on one line", () => {
  const text = formatError(
    new VlabError("bench-failed", "Cannot run bench rings: worker died\n    at foo", {
      hint: "Run it again\nwith more detail",
    }),
  );
  const lines = text.split("\n");
  assert.equal(lines.length, 2);
  assert.equal(lines[0], "vlab: Cannot run bench rings: worker died");
  assert.equal(lines[1], "hint: Run it again");
});

Deno.test("unknown errors become internal errors with a hint to report the bug", () => {
  const cause = new TypeError("x is undefined");
  const error = toVlabError(cause);
  assert.equal(error.code, "internal");
  assert.equal(error.exitCode, 1);
  assert.equal(error.cause, cause);
  assert.equal(
    formatError(cause),
    `vlab: Internal error: x is undefined\nhint: ${INTERNAL_ERROR_HINT}`,
  );
  assert.match(INTERNAL_ERROR_HINT, /report/);
  assert.doesNotMatch(INTERNAL_ERROR_HINT, /\.$/);
});

Deno.test("thrown non-errors are rendered too", () => {
  assert.equal(formatError("boom").split("\n")[0], "vlab: Internal error: boom");
  assert.equal(formatError(undefined).split("\n")[0], "vlab: Internal error: undefined");
  assert.equal(formatError("").split("\n")[0], "vlab: Internal error");
});

Deno.test("toVlabError returns a VlabError unchanged", () => {
  const error = new VlabError("missing-tool", "Cannot run bench on one core: taskset is missing", {
    hint: "Install it with apt-get install util-linux",
  });
  assert.equal(toVlabError(error), error);
});

Deno.test("the command line's did-you-mean is the topology's (one mechanism, tested there)", () => {
  assert.equal(closestName, topologyClosestName);
});

Deno.test("a failed write is write-failed with the system's reason, never an internal error", () => {
  const full = toVlabError(
    new OutputError("stdout", new Error("No space left on device (os error 28)")),
  );
  assert.equal(full.code, "write-failed");
  assert.equal(full.exitCode, 1);
  assert.equal(full.message, "Cannot write to stdout: no space left on device");
  assert.doesNotMatch(full.hint, /bug in vlab/);
  assert.equal(
    ioReason(new Error("Not a directory (os error 20): stat '/tmp/f/x'")),
    "not a directory",
  );
  assert.equal(ioReason(new Error("")), "unknown error");
});

Deno.test("only stdout's reader going away (EPIPE) is a closed stdout", () => {
  const pipe = new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
  assert.equal(isClosedStdout(new OutputError("stdout", pipe)), true);
  assert.equal(isClosedStdout(new OutputError("stderr", pipe)), false);
  assert.equal(isClosedStdout(new OutputError("stdout", new Error("No space left"))), false);
  assert.equal(isClosedStdout(pipe), false, "a broken pipe elsewhere (a socket) is not stdout");
});
