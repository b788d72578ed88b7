import assert from "node:assert/strict";
import { VlabError } from "./errors.ts";
import { intListOption, intOption } from "./int_option.ts";

/** The usage error `f` throws, or null. */
function refusal(f: () => unknown): VlabError | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof VlabError) return e;
    throw e;
  }
}

Deno.test("an integer option takes decimal digits within its bounds, nothing else", () => {
  assert.equal(intOption("--runs", "5", 1, 50), 5);
  assert.equal(intOption("--runs", "050", 1, 50), 50);
  assert.equal(intOption("--poll-us", "0", 0, 10), 0);
  // Number() would take each of these: "" and " " as 0, "1e1" as 10, "0x10" as 16, "2,3" as NaN
  // (and a list parser as 2).
  for (const text of ["", " ", "1e1", "0x10", "-1", "1.5", "+3", "2,3", "51", "0", "ten"]) {
    const e = refusal(() => intOption("--runs", text, 1, 50, "3"));
    assert.ok(e !== null, `"${text}" refused`);
    assert.equal(e.code, "bad-option");
    assert.equal(e.message, `--runs must be an integer from 1 to 50, got "${text}"`);
    assert.equal(e.hint, "For example --runs 3");
  }
});

Deno.test("an integer list option takes comma-separated digits, blanks around items allowed", () => {
  assert.deepEqual(intListOption("--sizes", "64, 1500", 60, 1514), [64, 1500]);
  assert.deepEqual(intListOption("--sizes", "1500,64", 60, 1514), [1500, 64], "in the order given");
  for (const text of ["", "64,", "64,,1500", "64;1500", "1e2", "59", "64,2000"]) {
    const e = refusal(() => intListOption("--sizes", text, 60, 1514, "64,1500"));
    assert.ok(e !== null, `"${text}" refused`);
    assert.equal(
      e.message,
      `--sizes must be a comma list of integers from 60 to 1514, got "${text}"`,
    );
    assert.equal(e.hint, "For example --sizes 64,1500");
  }
});
