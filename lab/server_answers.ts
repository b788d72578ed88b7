/**
 * The control server's error answers, shared by its routes (`server.ts`, `server_links.ts`):
 * `{"error": {"code", "message", "hint"}}` with a status, and values from a request quoted so
 * they are safe on one terminal line.
 *
 * @module
 */

import type { Lab } from "./lab.ts";
import { ringLinkProblem, unknownLinkProblem } from "./link_control.ts";

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

/**
 * The answer when `link` cannot be impaired or captured (`ringLinkProblem`): 404 for a link the
 * lab does not have, 409 for a vhost-pci link (no ring); null when it can be.
 */
export function ringLinkRefusal(
  lab: Lab,
  link: string,
  action: "impair" | "capture",
): Response | null {
  const p = ringLinkProblem(lab.plan, link, action);
  if (p === null) return null;
  return fail(p.code === "unknown-link" ? 404 : 409, p.code, p.message, p.hint);
}

/** A 404 for a link the lab does not have (the name quoted; the hint lists every link). */
export function unknownLink(lab: Lab, link: string): Response {
  const p = unknownLinkProblem(lab.plan, link);
  return fail(404, p.code, p.message, p.hint);
}
