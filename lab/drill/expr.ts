/**
 * The assertion language of drills: a small expression parser (no `eval`) and its evaluator.
 *
 * ```text
 * expr    := or
 * or      := and ("||" and)*
 * and     := cmp ("&&" cmp)*
 * cmp     := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
 * sum     := product (("+" | "-") product)*
 * product := unary (("*" | "/") unary)*
 * unary   := ("-" | "!") unary | primary
 * primary := number | string | "true" | "false" | call | name ("." name)* | "(" expr ")"
 * call    := name "(" [arg ("," arg)*] ")"       arg := expr | name "=" expr
 * ```
 *
 * Names are resolved by the caller ({@linkcode EvalScope}): `ping.loss_pct` is the field
 * `lossPct` of the workload result named `ping`. Calls are `count(events, kind = "link-down")`
 * and `metric("vlab_link_drops_total{link=\"a-b\",cause=\"loss\"}")`. Every error carries the offset
 * of the text it is about, so the loader can print `file:line:col`.
 *
 * Pure: no runtime access; the drill runner builds the scope.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { quote } from "../../devices/base/quote.ts";

/** A node of a parsed expression; `at` is its offset in the expression text. */
export type Expr =
  | { type: "number"; at: number; value: number }
  | { type: "string"; at: number; value: string }
  | { type: "bool"; at: number; value: boolean }
  | { type: "name"; at: number; parts: string[]; text: string }
  | { type: "call"; at: number; fn: string; args: CallArg[]; text: string }
  | { type: "unary"; at: number; op: "-" | "!"; operand: Expr }
  | { type: "binary"; at: number; op: BinaryOp; left: Expr; right: Expr };

/** A call argument: positional, or `key = value` (a filter). */
export interface CallArg {
  /** The filter key, or null for a positional argument. */
  key: string | null;
  /** Offset of the argument. */
  at: number;
  /** The value. */
  value: Expr;
}

/** Binary operators, loosest first within each group. */
export type BinaryOp = "||" | "&&" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*" | "/";

/** A problem in an expression: a stable code, the offset it is about, a message and a hint. */
export interface ExprError {
  /** Stable code (`expr-syntax`, `unknown-name`, `unknown-function`, `wrong-type`, …). */
  code: string;
  /** Offset in the expression text. */
  at: number;
  /** Sentence case, no final period. */
  message: string;
  /** What to do about it, or null. */
  hint: string | null;
}

type Token =
  | { kind: "num"; at: number; value: number; text: string }
  | { kind: "str"; at: number; value: string; text: string }
  | { kind: "id"; at: number; text: string }
  | { kind: "op"; at: number; text: string }
  | { kind: "end"; at: number; text: string };

const OPS = [
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "<",
  ">",
  "+",
  "-",
  "*",
  "/",
  "!",
  "(",
  ")",
  ",",
  ".",
  "=",
];
const MAX_LENGTH = 2000;
const MAX_DEPTH = 64;

/** What to do about an assertion nested past {@linkcode MAX_DEPTH}. */
const NESTING_HINT = "split it into several assertions, or drop parentheses that group nothing";

/** A token as a message shows it: escaped and cut as every other message's names ({@linkcode quote}). */
function quoteText(text: string): string {
  return quote(text, 40);
}

function tokenize(text: string): Result<Token[], ExprError> {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const num = /^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (num !== null) {
      tokens.push({ kind: "num", at: i, value: Number(num[1]), text: num[1] });
      i += num[1].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (id !== null) {
      tokens.push({ kind: "id", at: i, text: id[0] });
      i += id[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\" && j + 1 < text.length) {
          value += text[j + 1];
          j += 2;
        } else {
          value += text[j++];
        }
      }
      if (j >= text.length) {
        return err({
          code: "expr-syntax",
          at: i,
          message: "Unterminated string",
          hint: `close it with ${c}`,
        });
      }
      tokens.push({ kind: "str", at: i, value, text: text.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op === undefined) {
      return err({
        code: "expr-syntax",
        at: i,
        message: `Unexpected character ${quoteText(c)}`,
        hint: "assertions use names, numbers, strings, ( ), comparisons, + - * / and && ||",
      });
    }
    tokens.push({ kind: "op", at: i, text: op });
    i += op.length;
  }
  tokens.push({ kind: "end", at: text.length, text: "" });
  return ok(tokens);
}

class Parser {
  #tokens: Token[];
  #pos = 0;
  #depth = 0;
  #source: string;

  constructor(tokens: Token[], source: string) {
    this.#tokens = tokens;
    this.#source = source;
  }

  peek(): Token {
    return this.#tokens[this.#pos];
  }

  next(): Token {
    return this.#tokens[Math.min(this.#pos++, this.#tokens.length - 1)];
  }

  isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === text;
  }

  fail(t: Token, message: string, hint: string | null): never {
    throw { code: "expr-syntax", at: t.at, message, hint } satisfies ExprError;
  }

  describe(t: Token): string {
    return t.kind === "end" ? "the end of the assertion" : quoteText(t.text);
  }

  expect(text: string, hint: string | null): Token {
    const t = this.peek();
    if (t.kind !== "op" || t.text !== text) {
      this.fail(t, `Expected "${text}", got ${this.describe(t)}`, hint);
    }
    return this.next();
  }

  binary(ops: readonly BinaryOp[], sub: () => Expr, once = false): Expr {
    let left = sub();
    for (let n = 0; n < MAX_LENGTH; n++) {
      const t = this.peek();
      if (t.kind !== "op" || !(ops as readonly string[]).includes(t.text)) break;
      this.next();
      const right = sub();
      left = { type: "binary", at: t.at, op: t.text as BinaryOp, left, right };
      if (once) {
        const again = this.peek();
        if (again.kind === "op" && (ops as readonly string[]).includes(again.text)) {
          this.fail(again, "Comparisons do not chain", "join them with && instead");
        }
        break;
      }
    }
    return left;
  }

  expr(): Expr {
    if (++this.#depth > MAX_DEPTH) {
      this.fail(this.peek(), `Assertion nests deeper than ${MAX_DEPTH} levels`, NESTING_HINT);
    }
    try {
      return this.binary(["||"], () => this.and());
    } finally {
      this.#depth--;
    }
  }

  and(): Expr {
    return this.binary(["&&"], () => this.cmp());
  }

  cmp(): Expr {
    return this.binary(["==", "!=", "<", "<=", ">", ">="], () => this.sum(), true);
  }

  sum(): Expr {
    return this.binary(["+", "-"], () => this.product());
  }

  product(): Expr {
    return this.binary(["*", "/"], () => this.unary());
  }

  unary(): Expr {
    const t = this.peek();
    if (t.kind === "op" && (t.text === "-" || t.text === "!")) {
      this.next();
      if (++this.#depth > MAX_DEPTH) {
        this.fail(t, `Assertion nests deeper than ${MAX_DEPTH} levels`, NESTING_HINT);
      }
      try {
        return { type: "unary", at: t.at, op: t.text, operand: this.unary() };
      } finally {
        this.#depth--;
      }
    }
    return this.primary();
  }

  primary(): Expr {
    const t = this.next();
    if (t.kind === "num") return { type: "number", at: t.at, value: t.value };
    if (t.kind === "str") return { type: "string", at: t.at, value: t.value };
    if (t.kind === "op" && t.text === "(") {
      const inner = this.expr();
      this.expect(")", "close the parenthesis");
      return inner;
    }
    if (t.kind === "id") {
      if (t.text === "true" || t.text === "false") {
        return { type: "bool", at: t.at, value: t.text === "true" };
      }
      if (this.isOp("(")) return this.call(t);
      const parts = [t.text];
      while (this.isOp(".") && parts.length < 16) {
        this.next();
        const field = this.next();
        if (field.kind !== "id" && field.kind !== "num") {
          this.fail(
            field,
            `Expected a field name after ".", got ${this.describe(field)}`,
            "write a field after the dot, as in ping.received",
          );
        }
        parts.push(field.text);
      }
      const end = this.#tokens[this.#pos - 1];
      return {
        type: "name",
        at: t.at,
        parts,
        text: this.#source.slice(t.at, end.at + end.text.length),
      };
    }
    this.fail(
      t,
      `Expected a value, got ${this.describe(t)}`,
      "write a comparison such as `ping.loss_pct < 5`",
    );
  }

  call(name: Token): Expr {
    this.expect("(", null);
    const args: CallArg[] = [];
    if (!this.isOp(")")) {
      for (let n = 0; n < 32; n++) {
        const t = this.peek();
        const after = this.#tokens[this.#pos + 1];
        if (t.kind === "id" && after.kind === "op" && after.text === "=") {
          this.next();
          this.next();
          args.push({ key: t.text, at: t.at, value: this.expr() });
        } else {
          args.push({ key: null, at: t.at, value: this.expr() });
        }
        if (!this.isOp(",")) break;
        this.next();
      }
    }
    const close = this.expect(")", "separate arguments with commas and close the call with )");
    return {
      type: "call",
      at: name.at,
      fn: name.text,
      args,
      text: this.#source.slice(name.at, close.at + 1),
    };
  }
}

/**
 * Parse an assertion.
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * const r = parseExpr("ping.loss_pct < 5");
 * r.ok && r.value.type; // "binary"
 * ```
 */
export function parseExpr(text: string): Result<Expr, ExprError> {
  if (text.length > MAX_LENGTH) {
    return err({
      code: "expr-syntax",
      at: 0,
      message: `Assertion is longer than ${MAX_LENGTH} characters`,
      hint: "split it into several assertions",
    });
  }
  const tokens = tokenize(text);
  if (!tokens.ok) return tokens;
  const parser = new Parser(tokens.value, text);
  try {
    if (parser.peek().kind === "end") {
      parser.fail(parser.peek(), "Empty assertion", "write a comparison such as `sink.lost == 0`");
    }
    const expr = parser.expr();
    const rest = parser.peek();
    if (rest.kind !== "end") {
      parser.fail(
        rest,
        `Unexpected ${parser.describe(rest)} after a complete expression`,
        rest.text === "=" ? "compare with ==" : "join conditions with && or ||",
      );
    }
    return ok(expr);
  } catch (e) {
    if (typeof e === "object" && e !== null && "code" in e) return err(e as ExprError);
    throw e;
  }
}

/**
 * Every name and call of an expression (for checks before the drill runs).
 *
 * @example
 * ```ts
 * import { parseExpr, referencesOf } from "./expr.ts";
 * const e = parseExpr("a.x + b.y > 1");
 * e.ok && referencesOf(e.value).map((r) => r.at); // [0, 6]
 * ```
 */
export function referencesOf(expr: Expr): Extract<Expr, { type: "name" | "call" }>[] {
  const out: Extract<Expr, { type: "name" | "call" }>[] = [];
  const walk = (e: Expr, depth: number) => {
    if (depth > MAX_DEPTH * 2) return;
    if (e.type === "name") out.push(e);
    else if (e.type === "call") {
      out.push(e);
      for (const a of e.args) walk(a.value, depth + 1);
    } else if (e.type === "unary") walk(e.operand, depth + 1);
    else if (e.type === "binary") {
      walk(e.left, depth + 1);
      walk(e.right, depth + 1);
    }
  };
  walk(expr, 0);
  return out;
}
