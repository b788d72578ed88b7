/**
 * An option in milliseconds (`vlab fault vm-crash VM --ms`, `backend-crash --ms`) given a duration
 * with its unit, as a drill's durations are written: the hint gives the number it means.
 */

import assert from "node:assert/strict";
import { intOption } from "./int_option.ts";
import { VlabError } from "./errors.ts";

function hintOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof VlabError, String(e));
    return e.hint ?? "";
  }
  assert.fail("no error");
}

Deno.test("--ms 5s is refused with the milliseconds it means as the hint", () => {
  // Before: 'For example --ms 2000' whatever the duration.
  assert.equal(
    hintOf(() => intOption("--ms", "5s", 0, 60_000, "2000")),
    "--ms takes milliseconds, without a unit: --ms 5000",
  );
  assert.equal(
    hintOf(() => intOption("--ms", "750ms", 1, 60_000, "2000")),
    "--ms takes milliseconds, without a unit: --ms 750",
  );
  // Out of range, not whole milliseconds, or not a duration: the example, as before.
  for (const text of ["0ms", "2m", "250us", "soon"]) {
    assert.equal(hintOf(() => intOption("--ms", text, 1, 60_000, "2000")), "For example --ms 2000");
  }
  // Another option is not read as milliseconds.
  assert.equal(hintOf(() => intOption("--after", "5s", 1, 100, "100")), "For example --after 100");
});
