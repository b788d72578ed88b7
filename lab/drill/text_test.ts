import assert from "node:assert/strict";
import { printable, quote } from "./text.ts";

Deno.test("control characters are written as escapes, never sent", () => {
  assert.equal(printable("a\u001b[31mb\u0007\u009b\n"), "a\\x1b[31mb\\x07\\x9b\\x0a");
  assert.equal(printable("plain a-b"), "plain a-b");
});

Deno.test("quoted values escape quotes and backslashes and are cut", () => {
  assert.equal(quote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quote("x".repeat(100), 5), '"xxxxx…"');
  assert.ok(!quote("\u001b]0;title\u0007").includes("\u001b"));
});
