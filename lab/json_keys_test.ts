import assert from "node:assert/strict";
import { describeDuplicateKey, duplicateJsonKey } from "./json_keys.ts";
import { quoteForLine } from "./server_answers.ts";
import { quote } from "../devices/base/quote.ts";

Deno.test("finds a key given twice in one object, at any depth, and only there", () => {
  const cases: [string, string | null][] = [
    ['{"kind": "lost-kick", "count": 1, "count": 1000}', '"count"'],
    ['{"impair": {"delay": "5ms", "delay": "6ms"}}', '"delay" in impair'],
    ['{"a": [{"x": 1}, {"x": 1, "x": 2}]}', '"x" in a[1]'],
    // The same key in two objects, or escaped differently in one: JSON.parse's view decides.
    ['{"a": {"x": 1}, "b": {"x": 1}}', null],
    ['{"vm": "a", "v\\u006d": "b"}', '"vm"'],
    // Keys' look-alikes inside strings and lists are values, not keys.
    ['{"argv": ["vm", "vm"], "vm": "a,\\"vm\\": {"}', null],
    ['{"a\\\\": 1, "a": 2}', null],
    ["[1, 2, 2]", null],
    ['{"toString": 1, "__proto__": 2, "constructor": 3}', null],
  ];
  for (const [text, want] of cases) {
    JSON.parse(text); // every case is JSON
    const d = duplicateJsonKey(text);
    assert.equal(d === null ? null : describeDuplicateKey(d), want, text);
  }
});

Deno.test("a deep document is scanned without recursion, and a long key is cut in the message", () => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  assert.equal(duplicateJsonKey(deep), null);
  const long = "k".repeat(200);
  const d = duplicateJsonKey(`{"${long}": 1, "${long}": 2}`);
  assert.ok(d !== null);
  assert.ok(describeDuplicateKey(d).length < 80);
  const esc = duplicateJsonKey('{"\\u001b[31m": 1, "\\u001b[31m": 2}');
  assert.ok(esc !== null && !describeDuplicateKey(esc).includes("\x1b"));
});

Deno.test("a request's names are escaped as every other message's: \\x1b, not JSON's \\u001b", () => {
  const esc = duplicateJsonKey('{"\\u001b[31m": 1, "\\u001b[31m": 2}');
  assert.ok(esc !== null);
  assert.equal(describeDuplicateKey(esc), quote("\x1b[31m"));
  assert.equal(quoteForLine("a\x1bb\x85"), quote("a\x1bb\x85"));
  assert.equal(quoteForLine("a\x1bb"), '"a\\x1bb"');
});
