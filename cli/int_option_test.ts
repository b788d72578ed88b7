import assert from "node:assert/strict";
import { intListOption, intOption, secondsOption } from "./int_option.ts";

Deno.test("an integer option takes decimal digits within its bounds, nothing else", () => {
  assert.equal(intOption("--runs", "5", 1, 50), 5);
  assert.equal(intOption("--runs", "050", 1, 50), 50);
  assert.equal(intOption("--poll-us", "0", 0, 10), 0);
  // Number() would take each of these: "" and " " as 0, "1e1" as 10, "0x10" as 16, "2,3" as NaN
  // (and a list parser as 2).
  for (const text of ["", " ", "1e1", "0x10", "-1", "1.5", "+3", "2,3", "51", "0", "ten"]) {
    assert.throws(() => intOption("--runs", text, 1, 50, "3"), {
      name: "VlabError",
      code: "bad-option",
      message: `--runs must be an integer from 1 to 50, got "${text}"`,
      hint: "For example --runs 3",
    }, `"${text}" refused`);
  }
});

Deno.test("an integer list option takes comma-separated digits, blanks around items allowed", () => {
  assert.deepEqual(intListOption("--sizes", "64, 1500", 60, 1514), [64, 1500]);
  assert.deepEqual(intListOption("--sizes", "1500,64", 60, 1514), [1500, 64], "in the order given");
  for (const text of ["", "64,", "64,,1500", "64;1500", "1e2", "59", "64,2000"]) {
    assert.throws(() => intListOption("--sizes", text, 60, 1514, "64,1500"), {
      name: "VlabError",
      message: `--sizes must be a comma list of integers from 60 to 1514, got "${text}"`,
      hint: "For example --sizes 64,1500",
    }, `"${text}" refused`);
  }
});

Deno.test("a seconds option takes decimal digits with an optional fraction, within its bounds", () => {
  assert.equal(secondsOption("--timeout", "1", 0.01, 60), 1);
  assert.equal(secondsOption("--timeout", "0.25", 0.01, 60), 0.25);
  assert.equal(secondsOption("--timeout", "60", 0.01, 60), 60);
  // Ten decimals are still a number of seconds in range (refused before, the message citing it).
  assert.equal(secondsOption("--duration", "1.0000000001", 0.001, 604800), 1.0000000001);
  for (const bad of ["", " 1", "1 ", "1e1", "0x1", ".5", "5.", "-1", "+1", "1,2", "0.001", "61"]) {
    assert.throws(() => secondsOption("--timeout", bad, 0.01, 60), {
      name: "VlabError",
      code: "bad-option",
      message: `--timeout must be a number of seconds from 0.01 to 60, got "${bad}"`,
    }, bad);
  }
});
