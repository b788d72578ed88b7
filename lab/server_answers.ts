/**
 * The control server's error answers, shared by its routes (`server.ts`, `server_links.ts`):
 * `{"error": {"code", "message", "hint"}}` with a status, and values from a request quoted so
 * they are safe on one terminal line.
 *
 * @module
 */

import type { Lab } from "./lab.ts";
import { ringLinkProblem, unknownLinkProblem } from "./link_control.ts";
import { closestName } from "./topology/issues.ts";
import { quote } from "../devices/base/quote.ts";
import type { Impairment } from "./topology/types.ts";

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
 * The same quoting as every other message ({@linkcode quote}), so a name reads the same
 * whichever command refused it.
 *
 * @example
 * ```ts
 * import { quoteForLine } from "./server_answers.ts";
 * quoteForLine("a\x1bb"); // '"a\\x1bb"'
 * ```
 */
export function quoteForLine(text: string): string {
  return quote(text, 80);
}

/**
 * The answer when `link` cannot be impaired or captured (`ringLinkProblem`): 404 for a link the
 * lab does not have, 409 for a vhost-pci link (no ring); null when it can be.
 */
export function ringLinkRefusal(
  lab: Lab,
  link: string,
  action: "impair" | "capture",
  impair?: Impairment,
): Response | null {
  const p = ringLinkProblem(lab.plan, link, action, impair);
  if (p === null) return null;
  return fail(p.code === "unknown-link" ? 404 : 409, p.code, p.message, p.hint);
}

/** A 404 for a link the lab does not have (the name quoted; the hint lists every link). */
export function unknownLink(lab: Lab, link: string): Response {
  const p = unknownLinkProblem(lab.plan, link);
  return fail(404, p.code, p.message, p.hint);
}

/**
 * Largest request body the control server reads, bytes (1 MiB). The largest body a route takes
 * is a `POST /partitions` naming every VM of the largest lab: 1,024 names of at most 16
 * characters, about 20 KB; an `exec` argv or an impairment is a few hundred bytes. 1 MiB is
 * fifty times that, and the lab's main thread parses it in milliseconds; a bigger body is a
 * mistake or an attack, refused before it is read (it would hold up every other client).
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A request's body as text, read at most {@linkcode MAX_BODY_BYTES}: a 413 `body-too-large`
 * answer when its `Content-Length` says more (nothing read) or when a body without one passes
 * the limit (reading stops there and the rest is cancelled); a 400 `incomplete-body` when the
 * client closed the connection before the body's end.
 *
 * @example
 * ```ts
 * import { readBoundedBody } from "./server_answers.ts";
 * const req = new Request("http://vlab/exec", { method: "POST", body: "{}" });
 * await readBoundedBody(req); // { text: "{}" }
 * ```
 */
export async function readBoundedBody(req: Request): Promise<{ text: string } | Response> {
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > MAX_BODY_BYTES) {
    return tooLarge(`is ${declared.trim()} bytes`);
  }
  if (req.body === null) return { text: "" };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // The client closed its end before the body's end (fewer bytes than its Content-Length,
      // a chunked body without its last chunk): a bad request, not a fault of the lab.
      return incomplete(declared);
    }
    const { done, value } = next;
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      return tooLarge(`passed ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { text: new TextDecoder().decode(bytes) };
}

function incomplete(declared: string | null): Response {
  const length = declared === null ? "" : ` (its Content-Length gives ${declared.trim()} bytes)`;
  return fail(
    400,
    "incomplete-body",
    `Cannot read the request body: the connection ended before the body did${length}`,
    "Send the whole body before closing the connection (or give the Content-Length it has)",
  );
}

function tooLarge(what: string): Response {
  return fail(
    413,
    "body-too-large",
    `Cannot read the request body: it ${what}, more than the ${MAX_BODY_BYTES} the lab reads`,
    `Send a body of at most ${MAX_BODY_BYTES} bytes (1 MiB); every route takes a small JSON object`,
  );
}

/**
 * A 400 `bad-request` naming the first key of `body` that `route` does not take (a typo such as
 * `"dirction"` must not be ignored: the sender meant something by it), with the closest key it
 * takes; null when every key is one of `keys`.
 *
 * @example
 * ```ts
 * import { unknownKeyRefusal } from "./server_answers.ts";
 * unknownKeyRefusal("POST /heal", { ids: 1 }, ["id"])?.status; // 400
 * unknownKeyRefusal("POST /heal", { id: 1 }, ["id"]); // null
 * ```
 */
export function unknownKeyRefusal(
  route: string,
  body: Record<string, unknown>,
  keys: readonly string[],
): Response | null {
  const extra = Object.keys(body).find((k) => !keys.includes(k));
  if (extra === undefined) return null;
  const near = closestName(extra, keys);
  return fail(
    400,
    "bad-request",
    `${route} takes no key ${quoteForLine(extra)}`,
    near !== undefined ? `Did you mean "${near}"?` : `Its keys: ${keys.join(", ")}`,
  );
}

/**
 * A 400 `bad-request` for a query that `route` does not take as it is: a parameter it does not
 * take (`/capture?lnik=a-b`, `/events?limit=5`: a typo or a wish must not be ignored, as a body's
 * unknown key is not), or one given twice (`/capture?link=a-b&link=c-d` would capture the first
 * alone, as `JSON.parse` keeps the last of a key given twice); null when the query is fine.
 *
 * @example
 * ```ts
 * import { queryRefusal } from "./server_answers.ts";
 * queryRefusal("GET /capture", new URLSearchParams("link=a&link=b"), ["link"])?.status; // 400
 * queryRefusal("GET /capture", new URLSearchParams("link=a"), ["link"]); // null
 * ```
 */
export function queryRefusal(
  route: string,
  query: URLSearchParams,
  params: readonly string[],
): Response | null {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!params.includes(name)) {
      const near = closestName(name, params);
      return fail(
        400,
        "bad-request",
        params.length === 0
          ? `${route} takes no query parameters, got ${quoteForLine(name)}`
          : `${route} takes the parameter${params.length === 1 ? "" : "s"} ${params.join(", ")}, ` +
            `not ${quoteForLine(name)}`,
        params.length === 0
          ? `Send ${route} without a query`
          : near !== undefined
          ? `Did you mean "${near}"?`
          : `Its parameters: ${params.join(", ")}`,
      );
    }
    if (seen.has(name)) {
      return fail(
        400,
        "bad-request",
        `${route} takes the parameter ${quoteForLine(name)} once, got it ${
          query.getAll(name).length
        } times`,
        `Give it once (one request for each ${name})`,
      );
    }
    seen.add(name);
  }
  return null;
}

/**
 * A JSON value from a request, for a message: a string or number quoted as JSON, anything else
 * by its kind (`a list`, `an object`). Never walks it: a list nested 250,000 deep is a 400, not
 * a stack overflow in `JSON.stringify`.
 *
 * @example
 * ```ts
 * import { describeJsonValue } from "./server_answers.ts";
 * describeJsonValue("sideways"); // '"sideways"'
 * describeJsonValue([[1]]); // "a list"
 * ```
 */
export function describeJsonValue(value: unknown): string {
  if (typeof value === "string") return quoteForLine(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  return Array.isArray(value) ? "a list" : "an object";
}
