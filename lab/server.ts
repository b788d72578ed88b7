/**
 * The control server: HTTP over a Unix socket (mode 0600) in the lab's state folder. `vlab
 * status`, `exec`, `capture`, `link` and `down` are its clients, and so is any script
 * (`curl --unix-socket …/control.sock http://vlab/lab`).
 *
 * | method | path | answer |
 * | --- | --- | --- |
 * | GET | `/lab` | the status snapshot (JSON) |
 * | GET | `/metrics` | every counter, Prometheus text format |
 * | GET | `/events` | the recent event log (JSON array) |
 * | GET | `/snapshot` | the dashboard's snapshot of the lab (JSON, `lab/snapshot_types.ts`) |
 * | GET | `/ring?vm=a&nic=eth0&queue=1` | the ring view of one queue (JSON) |
 * | GET | `/vms/NAME` | what the guest reports (NIC link state, ARP cache) |
 * | POST | `/exec` | `{"vm": "a", "argv": ["ping", "10.0.0.2"]}` → the workload's result |
 * | GET | `/capture?link=NAME` | a live pcap stream of both directions of the link; its id in the `vlab-capture-id` header |
 * | GET | `/captures/ID` | that capture's counts: `{"id", "link", "captured", "dropped", "running"}` |
 * | DELETE | `/captures/ID` | ends the capture (its stream gets the last frames and closes); its final counts |
 * | POST | `/links/NAME` | `{"up": false}` brings the link down (or up); `{"impair": {"delay": "20ms"}, "direction": "both"}` changes its impairment live (`{}` clears it) |
 * | GET | `/partitions` | the partitions in force |
 * | POST | `/partitions` | `{"a": ["a"], "b": ["c", "d"], "oneWay": false}` cuts the two sets apart |
 * | POST | `/heal` | `{}` heals every partition, `{"id": 2}` one |
 * | POST | `/faults` | `{"kind": "backend-crash", "vm": "a", "mode": "exit"}`, `{"kind": "lost-kick", "vm": "a", "device": "eth0", "queue": "transmitq", "count": 1}` injects a fault |
 * | POST | `/down` | stops the lab |
 *
 * Every error is a 4xx (or 5xx) with `{"error": {"code", "message", "hint"}}`; a bad request
 * never stops the lab. A JSON body that gives a key twice in one object is a 400
 * `duplicate-key` (`JSON.parse` would keep the last silently). Routing uses the path as received: a path with a `.` or `..` segment, an
 * empty segment or a malformed %-escape is a 400 `bad-path`, never resolved to another route.
 *
 * @module
 */

import { type ResilientServer, serveResilient } from "./control_listener.ts";
import type { Lab } from "./lab.ts";
import { faultRoute, linkRoute, partitionRoute } from "./server_links.ts";
import { fail, quoteForLine } from "./server_answers.ts";
import { captureCountsRoute, captureStream } from "./server_capture.ts";
import { describeDuplicateKey, duplicateJsonKey } from "./json_keys.ts";
import { labStatus, prometheusMetrics } from "./metrics.ts";
import { takeRingView, takeSnapshot } from "./snapshot.ts";
import { l2Switches, unknownSwitchProblem } from "./switch_macs.ts";

/** Options of {@linkcode serveControl}. */
export interface ControlServerOptions {
  /** Socket path (a stale file there is removed first). */
  path: string;
  /** Called when a client asks the lab to stop (`POST /down`). */
  onDown: () => void;
}

/**
 * Serve a lab's control API on a Unix socket.
 *
 * @example
 * ```ts ignore
 * import { serveControl } from "./server.ts";
 * const server = serveControl(lab, { path: "/tmp/lab.sock", onDown: () => lab.stop() });
 * await server.shutdown();
 * ```
 */
export function serveControl(lab: Lab, options: ControlServerOptions): ResilientServer {
  // A listener that survives running out of file descriptors: see control_listener.ts.
  return serveResilient((req) => handle(lab, req, options), {
    path: options.path,
    onError: (e) => internal(e),
    onTrouble: (kind, message) => lab.events.emit(kind, lab.plan.name, { message }),
  });
}

function internal(e: unknown): Response {
  return fail(
    500,
    "internal",
    `The lab could not answer: ${e instanceof Error ? e.message : String(e)}`,
    "This is a bug in vlab; the lab keeps running",
  );
}

/**
 * A request's JSON body: `{ ok: false }` when it is not JSON (each route says what it needs), or
 * a 400 `duplicate-key` answer when an object gives a key twice: `JSON.parse` would keep the
 * last silently, and the sender may have meant the first (the CLI refuses an option twice too).
 */
async function readJson(
  req: Request,
): Promise<{ ok: true; value: unknown } | { ok: false } | Response> {
  let text: string;
  let value: unknown;
  try {
    text = await req.text();
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const twice = duplicateJsonKey(text);
  if (twice !== null) {
    return fail(
      400,
      "duplicate-key",
      `Cannot read the request body: key ${describeDuplicateKey(twice)} is given twice`,
      "Give each key once",
    );
  }
  return { ok: true, value };
}

/** A request target as received: the raw path and query, nothing resolved or decoded. */
interface RawTarget {
  path: string;
  query: URLSearchParams;
}

/**
 * Split a request's URL as received (`http+unix://vlab/links/a-b?x`) into its raw path and query,
 * or null when the path is not canonical: a `.` or `..` segment (raw or percent-encoded), an
 * empty segment, a fragment, or a malformed percent-escape. A URL parser would resolve
 * `/links/../down` to `/down`; we refuse it.
 */
export function rawTarget(url: string): RawTarget | null {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  const rest = origin ? url.slice(origin[0].length) : url;
  if (rest.includes("#")) return null;
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q + 1);
  if (!path.startsWith("/") || /%(?![0-9a-f]{2})/i.test(path + query)) return null;
  if (path === "/") return { path, query: new URLSearchParams(query) };
  for (const segment of path.slice(1).split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return null; // an escape that is not UTF-8
    }
    // A decoded name may hold anything (it is looked up, never routed on); dot segments are
    // what a URL parser would resolve, so they are refused even when percent-encoded.
    if (decoded === "" || decoded === "." || decoded === "..") return null;
  }
  try {
    return { path, query: new URLSearchParams(query) };
  } catch {
    return null;
  }
}

/** One path segment, decoded (`rawTarget` has checked that it decodes). */
function segment(raw: string): string {
  return decodeURIComponent(raw);
}

async function handle(lab: Lab, req: Request, options: ControlServerOptions): Promise<Response> {
  // Route on the path as received: never let a URL parser resolve `..` for us.
  const target = rawTarget(req.url);
  if (target === null) {
    return fail(
      400,
      "bad-path",
      `Cannot route ${req.method} ${quoteForLine(rawPathOf(req.url))}: the path is not canonical`,
      "Send a path without . or .. segments, empty segments or bad %-escapes, such as /links/a-b",
    );
  }
  const path = target.path;
  const url = { searchParams: target.query };
  const method = req.method;
  const route = (m: string) => {
    if (method !== m) {
      return fail(405, "method-not-allowed", `${path} does not accept ${method}`, `Use ${m}`);
    }
    return null;
  };
  if (path === "/lab") return route("GET") ?? Response.json(labStatus(lab));
  if (path === "/metrics") {
    return route("GET") ?? new Response(prometheusMetrics(lab), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  if (path === "/events") return route("GET") ?? Response.json(lab.events.recent());
  if (path === "/snapshot") return route("GET") ?? Response.json(takeSnapshot(lab));
  if (path === "/ring") return route("GET") ?? ringView(lab, url.searchParams);
  if (path.startsWith("/vms/")) {
    const bad = route("GET");
    if (bad) return bad;
    const vm = segment(path.slice(5));
    if (!lab.plan.vms.some((v) => v.name === vm)) return unknownVm(lab, vm);
    return Response.json({ name: vm, state: lab.vmState(vm), guest: await lab.inspect(vm) });
  }
  if (path === "/switches") {
    const bad = route("GET");
    if (bad) return bad;
    const names = l2Switches(lab.plan);
    const tables = await Promise.all(names.map((n) => lab.macTable(n)));
    const missing = names.filter((_, i) => tables[i] === null);
    return missing.length > 0 ? notAnswering(missing[0]) : Response.json(tables);
  }
  if (path.startsWith("/switches/")) {
    const bad = route("GET");
    if (bad) return bad;
    return await switchRoute(lab, segment(path.slice(10)));
  }
  if (path === "/exec") {
    const bad = route("POST");
    if (bad) return bad;
    const body = await readJson(req);
    if (body instanceof Response) return body;
    const v = body.ok ? body.value as { vm?: unknown; argv?: unknown } : null;
    if (
      v === null || typeof v !== "object" || typeof v.vm !== "string" ||
      !Array.isArray(v.argv) || !v.argv.every((a) => typeof a === "string")
    ) {
      return fail(
        400,
        "bad-request",
        "POST /exec needs a JSON body with a string `vm` and a string array `argv`",
        `For example {"vm": "a", "argv": ["ping", "10.0.0.2", "-c", "3"]}`,
      );
    }
    if (!lab.plan.vms.some((x) => x.name === v.vm)) return unknownVm(lab, v.vm);
    const out = await lab.exec(v.vm, v.argv as string[], req.signal);
    return out.ok
      ? Response.json({ result: out.result })
      : fail(422, "workload-failed", out.message, out.hint);
  }
  if (path.startsWith("/links/")) {
    const bad = route("POST");
    if (bad) return bad;
    const body = await readJson(req);
    return body instanceof Response ? body : linkRoute(lab, segment(path.slice(7)), body);
  }
  if (path === "/partitions" || path === "/heal") {
    if (path === "/partitions" && method === "GET") return Response.json(lab.links.partitions());
    const bad = route("POST");
    if (bad) return bad;
    const body = await readJson(req);
    return body instanceof Response ? body : partitionRoute(lab, path, body);
  }
  if (path === "/faults") {
    const bad = route("POST");
    if (bad) return bad;
    const body = await readJson(req);
    return body instanceof Response ? body : faultRoute(lab, body);
  }
  if (path === "/capture") {
    return route("GET") ?? captureStream(lab, url.searchParams.get("link") ?? "", req.signal);
  }
  if (path.startsWith("/captures/")) {
    return captureCountsRoute(lab, segment(path.slice(10)), method);
  }
  if (path === "/down") {
    const bad = route("POST");
    if (bad) return bad;
    setTimeout(options.onDown, 0);
    return Response.json({ stopping: lab.plan.name }, { status: 202 });
  }
  return fail(
    404,
    "not-found",
    `No such endpoint: ${method} ${path}`,
    "Endpoints: GET /lab /metrics /events /snapshot /ring?vm=&nic=&queue= /vms/NAME " +
      "/capture?link=NAME /captures/ID /partitions; DELETE /captures/ID; POST /exec /links/NAME /partitions /heal /faults /down",
  );
}

/** `GET /ring?vm=a&nic=eth0&queue=1`: 400 for missing or malformed parameters, 404 for an unknown queue. */
function ringView(lab: Lab, params: URLSearchParams): Response {
  const vm = params.get("vm");
  const nic = params.get("nic");
  const queue = params.get("queue");
  if (!vm || !nic || queue === null || !/^\d{1,5}$/.test(queue)) {
    return fail(
      400,
      "bad-request",
      "GET /ring needs the parameters vm, nic and queue (a queue index)",
      "For example /ring?vm=a&nic=eth0&queue=1 (0 receiveq, 1 transmitq)",
    );
  }
  const view = takeRingView(lab, { vm, nic, queue: Number(queue) });
  return view.ok
    ? Response.json(view.value)
    : fail(404, "unknown-queue", view.error.message, view.error.hint);
}

/** The raw path of a request URL, for a message. */
function rawPathOf(url: string): string {
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
}

/** `GET /switches/NAME`: the switch's MAC table. */
async function switchRoute(lab: Lab, name: string): Promise<Response> {
  const unknown = unknownSwitchProblem(lab.plan, name);
  if (unknown !== null) return fail(404, unknown.code, unknown.message, unknown.hint);
  const table = await lab.macTable(name);
  return table === null ? notAnswering(name) : Response.json(table);
}

function notAnswering(name: string): Response {
  return fail(
    503,
    "switch-not-answering",
    `Switch ${quoteForLine(name)} did not answer`,
    "See its state with vlab status; the lab's event log says why a worker stopped",
  );
}

function unknownVm(lab: Lab, vm: string): Response {
  return fail(
    404,
    "unknown-vm",
    `The lab has no VM ${quoteForLine(vm)}`,
    `VMs: ${lab.plan.vms.map((v) => v.name).join(", ")}`,
  );
}
