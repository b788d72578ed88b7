/**
 * The control server's routes that change a running lab's links and partitions:
 * `POST /links/NAME` (up/down, or a live impairment), `POST /partitions` and `POST /heal`, and
 * `POST /faults` (a backend crash or lost notifications, `faults.ts`).
 * Values are read by the same reader as topology files (`topology/impairment.ts`), so a bad
 * value is refused with the same message as in YAML, naming the key.
 *
 * @module
 */

import { parseFault } from "./faults.ts";
import type { Lab } from "./lab.ts";
import {
  describeJsonValue,
  fail,
  ringLinkRefusal,
  unknownKeyRefusal,
  unknownLink,
} from "./server_answers.ts";
import { parseImpairment } from "./topology/impairment.ts";
import { quote } from "../devices/base/quote.ts";
import { startAgain } from "./start_again.ts";

type Body = { ok: true; value: unknown } | { ok: false };

const DIRECTIONS = new Set(["forward", "reverse", "both"]);

/**
 * `POST /links/NAME`: `{"up": bool}` alone, or `{"impair": {…}, "direction": "both"}`. A body
 * that mixes them (`{"up": false, "impair": …}`, `{"up": false, "direction": "forward"}`) or
 * gives another key is a 400, as the CLI refuses `--direction` with `down`: one of its parts
 * would be ignored (a link goes down both ways).
 */
export function linkRoute(lab: Lab, link: string, body: Body): Response {
  if (lab.stopped) return labStopping(lab, `change link ${quote(link)}`);
  const v = plainObject(body);
  const usage = 'Send {"up": false}, or {"impair": {"delay": "20ms"}, "direction": "forward"}';
  if (v === null) {
    return fail(
      400,
      "bad-request",
      'POST /links/NAME needs {"up": true|false} or {"impair": {...}}',
      usage,
    );
  }
  const unknown = unknownKeyRefusal("POST /links/NAME", v, ["up", "impair", "direction"]);
  if (unknown !== null) return unknown;
  if (Object.hasOwn(v, "up") && Object.hasOwn(v, "impair")) {
    return fail(
      400,
      "bad-request",
      'POST /links/NAME takes "up" and "impair" apart, not both in one body',
      'Send two requests: {"up": false} brings the link down both ways; ' +
        '{"impair": {...}} changes its impairment',
    );
  }
  if (Object.hasOwn(v, "impair")) {
    const direction = v.direction ?? "both";
    if (typeof direction !== "string" || !DIRECTIONS.has(direction)) {
      return fail(
        400,
        "bad-impairment",
        `Direction must be "forward", "reverse" or "both", got ${describeJsonValue(direction)}`,
        `Send {"impair": {...}, "direction": "forward"}`,
      );
    }
    const imp = parseImpairment(v.impair, { link });
    // A vhost-pci link has no ring to impair, but takes a clear (it has nothing to clear).
    const noRing = ringLinkRefusal(lab, link, "impair", imp.ok ? imp.value : undefined);
    if (noRing !== null) return noRing;
    if (!imp.ok) return fail(400, "bad-impairment", imp.error.message, imp.error.hint);
    const refused = lab.links.impairmentProblem(link, imp.value);
    if (refused !== null) return fail(400, "bad-impairment", refused.message, refused.hint);
    lab.links.setImpairment(link, imp.value, direction as "forward" | "reverse" | "both");
    return Response.json({ link, direction, ...lab.links.impairments(link)! });
  }
  if (Object.hasOwn(v, "direction")) {
    return fail(
      400,
      "bad-request",
      'POST /links/NAME takes "direction" only with "impair": a link goes up or down both ways',
      'Leave "direction" out; to cut one way: {"impair": {"loss": "100%"}, "direction": "forward"} ' +
        '(a net link), or POST /partitions {"a": [...], "b": [...], "oneWay": true} (any link)',
    );
  }
  const up = v.up;
  if (typeof up !== "boolean") {
    return fail(
      400,
      "bad-request",
      'POST /links/NAME needs {"up": true|false} or {"impair": {...}}',
      usage,
    );
  }
  if (!lab.setLink(link, up)) return unknownLink(lab, link);
  return Response.json({ link, up });
}

/**
 * The answer to a change asked while the lab stops (the server answers until its workloads and
 * captures have ended): it would reach no worker, and its event would follow `lab-down`. A 503
 * `lab-stopping`, as `POST /exec` and `POST /faults` answer then, which the client reads as
 * `no-lab`.
 */
function labStopping(lab: Lab, what: string): Response {
  return fail(
    503,
    "lab-stopping",
    `Cannot ${what}: lab ${quote(lab.plan.name)} is stopped or stopping`,
    `Start it again with ${startAgain(lab.plan)}`,
  );
}

/** A body's JSON object, or null when it is not JSON or not an object (a list, a string…). */
function plainObject(body: Body): Record<string, unknown> | null {
  return body.ok && body.value !== null && typeof body.value === "object" &&
      !Array.isArray(body.value)
    ? body.value as Record<string, unknown>
    : null;
}

/** `POST /partitions` (`{"a": [...], "b": [...], "oneWay": false}`) and `POST /heal` (`{"id"?}`). */
export function partitionRoute(lab: Lab, path: string, body: Body): Response {
  if (lab.stopped) {
    return labStopping(lab, path === "/heal" ? "heal a partition" : "partition the lab");
  }
  const v = plainObject(body);
  if (v !== null) {
    const unknown = path === "/heal"
      ? unknownKeyRefusal("POST /heal", v, ["id"])
      : unknownKeyRefusal("POST /partitions", v, ["a", "b", "oneWay"]);
    if (unknown !== null) return unknown;
  }
  if (path === "/heal") {
    const id = v?.id;
    if (v === null || (id !== undefined && !(Number.isInteger(id) && (id as number) > 0))) {
      return fail(400, "bad-request", 'POST /heal needs {} or {"id": N}', `Send {"id": 1}`);
    }
    const healed = lab.links.heal(id as number | undefined);
    if (id !== undefined && healed.length === 0) {
      return fail(
        404,
        "unknown-partition",
        `The lab has no partition ${id}`,
        `Partitions: ${lab.links.partitions().map((p) => p.id).join(", ") || "none"}`,
      );
    }
    return Response.json({ healed });
  }
  const names = (x: unknown) =>
    Array.isArray(x) && x.every((n) => typeof n === "string") ? x as string[] : null;
  const a = names(v?.a), b = names(v?.b);
  if (a === null || b === null || (v?.oneWay !== undefined && typeof v.oneWay !== "boolean")) {
    return fail(
      400,
      "bad-request",
      "POST /partitions needs string arrays `a` and `b` (and a boolean `oneWay`)",
      `For example {"a": ["a", "b"], "b": ["c"], "oneWay": false}`,
    );
  }
  const r = lab.links.partition(a, b, v?.oneWay === true);
  if (!r.ok) {
    return fail(
      r.error.code === "unknown-vm" ? 404 : 400,
      r.error.code,
      r.error.message,
      r.error.hint,
    );
  }
  return Response.json(r.value, { status: 201 });
}

const FAULT_STATUS = new Map([
  ["bad-fault", 400],
  ["unknown-vm", 404],
  ["unknown-device", 404],
  ["unknown-queue", 404],
  ["vm-not-running", 409],
  ["lab-stopping", 503],
  ["bug-not-applicable", 409],
  ["no-guest-bugs", 409],
  ["guest-bug-refused", 409],
  ["backend-hung", 409],
  ["backend-crash-armed", 409],
  ["too-many-armed", 409],
  ["vm-crash-unsupported", 409],
  ["no-queues", 409],
]);

/** `POST /faults`: `{"kind": "backend-crash", "vm": "a", "mode": "exit"}` and the like. */
export async function faultRoute(lab: Lab, body: Body): Promise<Response> {
  if (!body.ok) {
    return fail(
      400,
      "bad-fault",
      "Cannot inject a fault: the body is not JSON",
      `Send {"kind": "backend-crash", "vm": "a"}`,
    );
  }
  const f = parseFault(body.value);
  if (!f.ok) return fail(400, f.code, f.message, f.hint);
  const r = await lab.fault(f.value);
  if (!r.ok) return fail(FAULT_STATUS.get(r.code) ?? 400, r.code, r.message, r.hint);
  return Response.json(r.detail);
}
