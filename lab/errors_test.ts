import assert from "node:assert/strict";
import { LabError } from "./errors.ts";

Deno.test("a LabError escapes control characters in its message, hint and details", () => {
  // Every LabError reaches a script, which prints it: a value from outside in it must not act
  // on the terminal (the CLI's printer escaped them; a script's console.log did not).
  const e = new LabError("unknown-vm", 'No VM "\x1b[2J"', "VMs: a\x07", ["x:1:1: \u202e"]);
  assert.equal(e.message, 'No VM "\\x1b[2J"');
  assert.equal(e.hint, "VMs: a\\x07");
  assert.deepEqual(e.details, ["x:1:1: \\u202e"]);
  const plain = new LabError("no-lab", "No lab is running", "Start one with `vlab up`");
  assert.equal(plain.message, "No lab is running");
});
