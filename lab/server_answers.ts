/**
 * The control server's error answers, shared by its routes (`server.ts`, `server_links.ts`):
 * `{"error": {"code", "message", "hint"}}` with a status, and values from a request quoted so
 * they are safe on one terminal line.
 *
 * @module
 */

import type { Lab } from "./lab.ts";

/**
 * An error answer.
 *
 * @example
 * ```ts
 * import { fail } from "./server_answers.ts";
 * fail(404, "unknown-vm", 'The lab has no VM "x"', "VMs: a, b").status; // 404
 * ```
 */
export function fail(status: number, code: string, message: string, hint: string): Response {
  return Response.json({ error: { code, message, hint } }, { status });
}

/**
 * A value from a request, safe on one terminal line: control characters escaped, cut at 80.
 *
 * @example
 * ```ts
 * import { quoteForLine } from "./server_answers.ts";
 * quoteForLine("a\x1bb"); // '"a\\u001bb"'
 * ```
 */
export function quoteForLine(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(cut).replace(
    /[\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A 404 for a link the lab does not have (the name quoted). */
export function unknownLink(lab: Lab, link: string): Response {
  return fail(
    404,
    "unknown-link",
    `The lab has no link ${quoteForLine(link)}`,
    `Links: ${lab.plan.links.map((l) => l.name).join(", ")}`,
  );
}
