/**
 * Evaluate a parsed assertion (`expr.ts`) against a scope that says what names and calls mean
 * (`scope.ts` for a finished drill run). Type errors and division by zero are errors at the
 * operand's offset; `&&` and `||` do not evaluate a right side the left decides. Pure.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import type { Expr, ExprError } from "./expr.ts";

/** A value of the language. */
export type Value = number | string | boolean;

/** What names and calls mean while evaluating: supplied by the drill runner. */
export interface EvalScope {
  /** The value of a dotted name, or an error about it. */
  name(expr: Extract<Expr, { type: "name" }>): Result<Value, ExprError>;
  /** The value of a call, or an error about it. */
  call(expr: Extract<Expr, { type: "call" }>): Result<Value, ExprError>;
}

/** The result of evaluating an assertion: its value and the measured value of every name/call. */
export interface Evaluation {
  /** The expression's value. */
  value: Value;
  /** `text → value` of each name and call the expression read, once each, in reading order. */
  measured: { text: string; value: Value }[];
}

function typeName(v: Value): string {
  return typeof v === "boolean" ? "true or false" : typeof v === "number" ? "a number" : "a string";
}

/**
 * The hint of a type mistake: operator `op` given something other than `expected` (what the
 * static check of `references.ts` and the evaluation below both say).
 *
 * @example
 * ```ts
 * import { wrongTypeHint } from "./evaluate.ts";
 * wrongTypeHint("<", "a number"); // "order compares numbers; compare strings with == or !="
 * ```
 */
export function wrongTypeHint(op: string, expected: "a number" | "true or false"): string {
  if (expected === "true or false") {
    return op === "!"
      ? "negate a condition, as in !(ping.received > 0)"
      : `join conditions with ${op}, as in ping.received > 0 ${op} ping.loss_pct < 50`;
  }
  return ["<", "<=", ">", ">="].includes(op)
    ? "order compares numbers; compare strings with == or !="
    : op === "-"
    ? "negate or subtract numbers only"
    : `${op} works on numbers only`;
}

/** The hint of a comparison of two types (`"10" == 10`). */
export const COMPARE_TYPES_HINT = "compare a number with a number, a string with a string " +
  "(quoted) and a condition with true or false";

/**
 * Evaluate a parsed assertion against a scope.
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * import { evaluate } from "./evaluate.ts";
 * import { err, ok } from "../../devices/base/result.ts";
 * const e = parseExpr("ping.loss_pct < 5");
 * const scope = {
 *   name: () => ok(2.5),
 *   call: (c: { at: number }) => err({ code: "unknown-function", at: c.at, message: "no", hint: null }),
 * };
 * const r = e.ok ? evaluate(e.value, scope) : null;
 * r?.ok && r.value.value; // true
 * ```
 */
export function evaluate(expr: Expr, scope: EvalScope): Result<Evaluation, ExprError> {
  const measured: { text: string; value: Value }[] = [];
  const fail = (at: number, message: string, hint: string | null = null): never => {
    throw { code: "wrong-type", at, message, hint } satisfies ExprError;
  };
  const num = (e: Expr, v: Value, op: string): number =>
    typeof v === "number"
      ? v
      : fail(e.at, `"${op}" needs a number, got ${typeName(v)}`, wrongTypeHint(op, "a number"));
  const bool = (e: Expr, v: Value, op: string): boolean =>
    typeof v === "boolean" ? v : fail(
      e.at,
      `"${op}" needs true or false, got ${typeName(v)}`,
      wrongTypeHint(op, "true or false"),
    );
  const go = (e: Expr): Value => {
    switch (e.type) {
      case "number":
      case "string":
      case "bool":
        return e.value;
      case "name":
      case "call": {
        const r = e.type === "name" ? scope.name(e) : scope.call(e);
        if (!r.ok) throw r.error;
        if (!measured.some((m) => m.text === e.text)) {
          measured.push({ text: e.text, value: r.value });
        }
        return r.value;
      }
      case "unary": {
        const v = go(e.operand);
        return e.op === "-" ? -num(e.operand, v, "-") : !bool(e.operand, v, "!");
      }
      case "binary": {
        const l = go(e.left);
        if (e.op === "&&" && bool(e.left, l, "&&") === false) return false;
        if (e.op === "||" && bool(e.left, l, "||") === true) return true;
        const r = go(e.right);
        switch (e.op) {
          case "&&":
          case "||":
            return bool(e.right, r, e.op);
          case "==":
          case "!=": {
            if (typeof l !== typeof r) {
              fail(
                e.at,
                `Cannot compare ${typeName(l)} with ${typeName(r)}`,
                COMPARE_TYPES_HINT,
              );
            }
            return (l === r) === (e.op === "==");
          }
          case "<":
          case "<=":
          case ">":
          case ">=": {
            const a = num(e.left, l, e.op), b = num(e.right, r, e.op);
            return e.op === "<" ? a < b : e.op === "<=" ? a <= b : e.op === ">" ? a > b : a >= b;
          }
          case "+":
            return num(e.left, l, "+") + num(e.right, r, "+");
          case "-":
            return num(e.left, l, "-") - num(e.right, r, "-");
          case "*":
            return num(e.left, l, "*") * num(e.right, r, "*");
          case "/": {
            const d = num(e.right, r, "/");
            if (d === 0) {
              fail(e.right.at, "Division by zero", "divide by a value that cannot be 0");
            }
            return num(e.left, l, "/") / d;
          }
        }
      }
    }
  };
  try {
    return ok({ value: go(expr), measured });
  } catch (e) {
    if (typeof e === "object" && e !== null && "code" in e) return err(e as ExprError);
    throw e;
  }
}
