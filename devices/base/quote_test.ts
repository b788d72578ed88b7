import assert from "node:assert/strict";
import { quote, showValue } from "./quote.ts";

Deno.test("quote escapes and cuts text, and names a list or an object by its kind", () => {
  assert.equal(quote("a\x1bb"), '"a\\x1bb"');
  assert.equal(quote('say "hi"'), '"say \\"hi\\""');
  assert.equal(quote("a".repeat(100)), `"${"a".repeat(64)}…"`);
  assert.equal(quote(42), '"42"');
  assert.equal(quote(null), '"null"');
  // String() of a list nested this deep overflowed the stack (a 500 from POST /faults).
  let deep: unknown = [];
  for (let i = 0; i < 250_000; i++) deep = [deep];
  assert.equal(quote(deep), "a list");
  assert.equal(quote({ toString: () => "x" }), "an object");
  assert.equal(quote(Object.create(null)), "an object"); // String() of it threw
  assert.equal(quote(() => 1), "a function");
  assert.equal(showValue([1]), "a list");
});

Deno.test("quote shows the invisible characters that make a value refused, as escapes", () => {
  // `Cannot read memory "16MiB<U+200B>"` showed the zero width space raw: the value looked right.
  assert.equal(quote("16MiB\u200b"), '"16MiB\\u200b"');
  assert.equal(quote("\ufeffa\u2060b\u00adc\u200dd"), '"\\ufeffa\\u2060b\\xadc\\u200dd"');
  // Letters of every script stay as they are.
  assert.equal(quote("é中\u0915\u094d"), '"é中\u0915\u094d"');
});
