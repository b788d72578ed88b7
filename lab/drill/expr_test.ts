import assert from "node:assert/strict";
import { err, ok } from "../../devices/base/result.ts";
import { type EvalScope, evaluate } from "./evaluate.ts";
import { type Expr, parseExpr, referencesOf } from "./expr.ts";

function parsed(text: string): Expr {
  const r = parseExpr(text);
  if (!r.ok) throw new Error(`${text}: ${r.error.message} at ${r.error.at}`);
  return r.value;
}

function syntaxError(text: string): { at: number; message: string; hint: string | null } {
  const r = parseExpr(text);
  assert.ok(!r.ok, `${text} should not parse`);
  return r.error;
}

const values = new Map<string, number | string | boolean>([
  ["ping.loss_pct", 2.5],
  ["sink.lost", 0],
  ["ping.dst", "10.0.0.2"],
  ["flag.ok", true],
]);

const scope: EvalScope = {
  name: (e) =>
    values.has(e.text)
      ? ok(values.get(e.text)!)
      : err({ code: "unknown-name", at: e.at, message: `no ${e.text}`, hint: null }),
  call: (e) =>
    e.fn === "count"
      ? ok(e.args.length)
      : err({ code: "unknown-function", at: e.at, message: `no ${e.fn}`, hint: null }),
};

function value(text: string) {
  const r = evaluate(parsed(text), scope);
  if (!r.ok) throw new Error(`${text}: ${r.error.message}`);
  return r.value.value;
}

Deno.test("assertions compare numbers, strings and booleans with the usual precedence", () => {
  assert.equal(value("ping.loss_pct < 5"), true);
  assert.equal(value("ping.loss_pct >= 5"), false);
  assert.equal(value("sink.lost == 0 && ping.loss_pct < 3"), true);
  assert.equal(value("sink.lost != 0 || ping.loss_pct <= 2.5"), true);
  assert.equal(value("1 + 2 * 3 == 7"), true);
  assert.equal(value("(1 + 2) * 3 == 9"), true);
  assert.equal(value("-ping.loss_pct < -2"), true);
  assert.equal(value('ping.dst == "10.0.0.2"'), true);
  assert.equal(value("ping.dst == '10.0.0.3'"), false);
  assert.equal(value("!flag.ok || false"), false);
  assert.equal(value("10 / 4 == 2.5"), true);
  assert.equal(value("1e3 > 999"), true);
});

Deno.test("&& and || do not evaluate their right side when the left decides", () => {
  // `missing.x` would be an error if it were read.
  assert.equal(value("sink.lost == 1 && missing.x > 0"), false);
  assert.equal(value("sink.lost == 0 || missing.x > 0"), true);
});

Deno.test("evaluation records each name and call it read, once, with its value", () => {
  const r = evaluate(parsed("ping.loss_pct < 5 && ping.loss_pct > 0 && count(events) == 1"), scope);
  assert.ok(r.ok);
  assert.deepEqual(r.value.measured, [
    { text: "ping.loss_pct", value: 2.5 },
    { text: "count(events)", value: 1 },
  ]);
});

Deno.test("calls take positional arguments and key = value filters", () => {
  const e = parsed('count(events, kind = "link-down", subject = "a-b") == 2');
  assert.equal(e.type, "binary");
  const call = referencesOf(e).find((r) => r.type === "call");
  assert.ok(call?.type === "call");
  assert.equal(call.fn, "count");
  assert.deepEqual(call.args.map((a) => a.key), [null, "kind", "subject"]);
  assert.equal(call.text, 'count(events, kind = "link-down", subject = "a-b")');
  assert.equal(call.args[1].at, 14);
});

Deno.test("every syntax error names its offset in the assertion", () => {
  const cases: [string, number, RegExp][] = [
    ["", 0, /Empty assertion/],
    ["ping.loss_pct <", 15, /Expected a value, got the end of the assertion/],
    ["ping.loss_pct < 5 5", 18, /Unexpected "5" after a complete expression/],
    ["ping.loss_pct # 5", 14, /Unexpected character "#"/],
    ['kind == "link-down', 8, /Unterminated string/],
    ["(1 + 2", 6, /Expected "\)"/],
    ["1 < 2 < 3", 6, /Comparisons do not chain/],
    ["ping. < 3", 6, /Expected a field name after "."/],
    ["count(events kind)", 13, /Expected "\)", got "kind"/],
    ["1 + * 2", 4, /Expected a value, got "\*"/],
  ];
  for (const [text, at, message] of cases) {
    const e = syntaxError(text);
    assert.equal(e.at, at, `${JSON.stringify(text)}: ${e.message}`);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\.$/);
  }
});

Deno.test("syntax errors carry a hint where one helps", () => {
  assert.match(syntaxError("1 < 2 < 3").hint ?? "", /&&/);
  assert.match(syntaxError("a.b < 1 c.d > 2").hint ?? "", /&& or \|\|/);
  assert.match(syntaxError('"abc').hint ?? "", /close it/);
  assert.equal(syntaxError("count(events) = 1").hint, "compare with ==");
});

Deno.test("control characters in an error are quoted, not printed", () => {
  const e = syntaxError("a.b < 1 \u001b[31m");
  assert.ok(!e.message.includes("\u001b"), e.message);
  // Escaped as every other message escapes it, not turned into "?".
  assert.equal(e.message, 'Unexpected character "\\x1b"');
});

Deno.test("nesting and length are bounded", () => {
  assert.match(syntaxError("(".repeat(100) + "1" + ")".repeat(100)).message, /nests deeper/);
  assert.match(syntaxError("-".repeat(100) + "1").message, /nests deeper/);
  assert.match(syntaxError("1 + ".repeat(600) + "1").message, /longer than/);
});

Deno.test("type errors and division by zero point at the operand", () => {
  const cases: [string, number, RegExp][] = [
    ["ping.dst < 5", 0, /"<" needs a number, got a string/],
    ["ping.loss_pct == true", 14, /Cannot compare a number with true or false/],
    ["sink.lost && flag.ok", 0, /"&&" needs true or false, got a number/],
    ["1 / sink.lost > 0", 4, /Division by zero/],
    ["missing.x > 0", 0, /no missing.x/],
    ["nope(1) > 0", 0, /no nope/],
  ];
  for (const [text, at, message] of cases) {
    const r = evaluate(parsed(text), scope);
    assert.ok(!r.ok, text);
    assert.equal(r.error.at, at, `${text}: ${r.error.message}`);
    assert.match(r.error.message, message);
    // Before, the four mistakes of types and values had no hint.
    if (r.error.code === "wrong-type") assert.ok(r.error.hint, `${text}: no hint`);
  }
});
