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
 * | GET | `/switches` | every switch's MAC table (JSON array) |
 * | GET | `/switches/NAME` | one switch's MAC table |
 * | GET | `/vms/NAME` | what the guest reports (NIC link state, ARP cache) |
 * | POST | `/exec` | `{"vm": "a", "argv": ["ping", "10.0.0.2"], "id": "mine-1"}` (`id` optional) → `{"id", "result", "cancelled", "cancelledBy"}`; with `"stream": true`, NDJSON: `{"line"}` as they happen, then that answer (`server_exec.ts`) |
 * | GET | `/execs` | the workloads running: `[{"id", "vm", "argv", "startedAt", "cancelled"}]` |
 * | DELETE | `/execs/ID` | stops that workload; its partial result, as its `POST /exec` answers it (`server_exec.ts`) |
 * | GET | `/capture?link=NAME` | a live pcap stream of both directions of the link; its id in the `vlab-capture-id` header |
 * | GET | `/captures/ID` | that capture's counts: `{"id", "link", "captured", "dropped", "running"}` |
 * | DELETE | `/captures/ID` | ends the capture (its stream gets the last frames and closes); its final counts |
 * | POST | `/links/NAME` | `{"up": false}` brings the link down (or up); `{"impair": {"delay": "20ms"}, "direction": "both"}` changes its impairment live (`{}` clears it); never both, nor `direction` with `up` |
 * | GET | `/partitions` | the partitions in force |
 * | POST | `/partitions` | `{"a": ["a"], "b": ["c", "d"], "oneWay": false}` cuts the two sets apart |
 * | POST | `/heal` | `{}` heals every partition, `{"id": 2}` one |
 * | POST | `/faults` | `{"kind": "backend-crash", "vm": "a", "mode": "exit"}`, `{"kind": "lost-kick", "vm": "a", "device": "eth0", "queue": "transmitq", "count": 1}` injects a fault |
 * | POST | `/down` | stops the lab |
 *
 * The table is {@linkcode ROUTES} in code: the 404 hint and each 405's `Allow` header are made
 * from it. A route that takes GET takes HEAD (GET's status and headers, no body; a HEAD of
 * `/capture` starts no capture).
 *
 * Every error is a 4xx (or 5xx) with `{"error": {"code", "message", "hint"}}`; a bad request
 * never stops the lab. A body over 1 MiB is a 413 `body-too-large`, refused from its
 * `Content-Length` or once that much has come (`MAX_BODY_BYTES`); a body the client stopped
 * sending (it closed the connection before the body's end) is a 400 `incomplete-body`; a POST body with a key its
 * route does not take is a 400 `bad-request`. A JSON body that gives a key twice in one object is a 400
 * `duplicate-key` (`JSON.parse` would keep the last silently). A query parameter the route does
 * not take (every route but `/ring` and `/capture` takes none), or one given twice, is a 400
 * `bad-request`. Routing uses the path as received: a path with a `.` or `..` segment, an
 * empty segment or a malformed %-escape is a 400 `bad-path`, never resolved to another route.
 *
 * @module
 */

import { type ResilientServer, serveResilient } from "./control_listener.ts";
import type { Lab } from "./lab.ts";
import { faultRoute, linkRoute, partitionRoute } from "./server_links.ts";
import { fail, queryRefusal, quoteForLine, readBoundedBody } from "./server_answers.ts";
import { vmsHint } from "./errors.ts";
import { captureCountsRoute, captureHead, captureStream } from "./server_capture.ts";
import { execCancelRoute, execListRoute, execRoute } from "./server_exec.ts";
import { describeDuplicateKey, duplicateJsonKey } from "./json_keys.ts";
import { labStatus, prometheusMetrics } from "./metrics.ts";
import { takeRingView, takeSnapshot } from "./snapshot.ts";
import { l2Switches, unknownSwitchProblem } from "./switch_macs.ts";

/** Options of {@linkcode serveControl}. */
export interface ControlServerOptions {
  /** Socket path (a stale file there is replaced). */
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
  const read = await readBoundedBody(req);
  if (read instanceof Response) return read;
  const text = read.text;
  let value: unknown;
  try {
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

/** What a route's handler gets: the lab, the request, the name after its prefix, the query. */
interface Call {
  lab: Lab;
  req: Request;
  options: ControlServerOptions;
  /** The decoded rest of the path after a prefix route's prefix (`a` of `/vms/a`); "" otherwise. */
  name: string;
  query: URLSearchParams;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** The methods a route may take, in the order `Allow` and the 404 hint list them. */
const METHODS = ["GET", "HEAD", "POST", "DELETE"] as const;

/** One route: its path (exact, or a prefix followed by a name) and a handler per method. */
interface Route {
  /** The exact path, or the prefix (ending in `/`) of a named route. */
  path: string;
  /** True when `path` is a prefix: `/vms/` matches `/vms/NAME`. */
  prefix: boolean;
  /** How the 404 hint shows it: `/vms/NAME`, `/ring?vm=&nic=&queue=`. */
  shown: string;
  /**
   * A handler per method. A route with GET answers HEAD as GET without the body unless it gives
   * its own HEAD (`/capture`: a HEAD must not start a capture).
   */
  methods: Partial<Record<(typeof METHODS)[number], Handler>>;
  /**
   * The query parameters the route takes, each once (none when absent): any other, or one given
   * twice, is a 400 `bad-request` (`queryRefusal`).
   */
  params?: readonly string[];
}

/** A POST route's JSON body, read (bounded) and checked for duplicate keys, then handled. */
function withJson(
  handler: (
    call: Call,
    body: { ok: true; value: unknown } | { ok: false },
  ) => Response | Promise<Response>,
): Handler {
  return async (call) => {
    const body = await readJson(call.req);
    return body instanceof Response ? body : await handler(call, body);
  };
}

/**
 * Why `POST /down` refuses its body, or null: it takes none (or `{}`). A key such as
 * `{"lab": "star"}` is refused as every route refuses a key it does not take: the sender meant
 * something by it, and stopping this lab regardless would not be it.
 */
async function downBodyRefusal(req: Request): Promise<Response | null> {
  const read = await readBoundedBody(req);
  if (read instanceof Response) return read;
  if (read.text.trim() === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(read.text);
  } catch {
    value = undefined;
  }
  const hint = "Send POST /down without a body (or {}): it stops the lab whose socket it reaches";
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const key = Object.keys(value)[0];
    if (key === undefined) return null;
    return fail(400, "bad-request", `POST /down takes no key ${quoteForLine(key)}`, hint);
  }
  return fail(400, "bad-request", "POST /down takes no body, got one that is not {}", hint);
}

/** Every route of the control server; the 404 hint and each 405's `Allow` are made from it. */
const ROUTES: readonly Route[] = [
  {
    path: "/lab",
    prefix: false,
    shown: "/lab",
    methods: { GET: ({ lab }) => Response.json(labStatus(lab)) },
  },
  {
    path: "/metrics",
    prefix: false,
    shown: "/metrics",
    methods: {
      GET: ({ lab }) =>
        new Response(prometheusMetrics(lab), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        }),
    },
  },
  {
    path: "/events",
    prefix: false,
    shown: "/events",
    methods: { GET: ({ lab }) => Response.json(lab.events.recent()) },
  },
  {
    path: "/snapshot",
    prefix: false,
    shown: "/snapshot",
    methods: { GET: ({ lab }) => Response.json(takeSnapshot(lab)) },
  },
  {
    path: "/ring",
    prefix: false,
    shown: "/ring?vm=&nic=&queue=",
    params: ["vm", "nic", "queue"],
    methods: { GET: ({ lab, query }) => ringView(lab, query) },
  },
  {
    path: "/switches",
    prefix: false,
    shown: "/switches",
    methods: { GET: ({ lab }) => allSwitches(lab) },
  },
  {
    path: "/switches/",
    prefix: true,
    shown: "/switches/NAME",
    methods: { GET: ({ lab, name }) => switchRoute(lab, name) },
  },
  {
    path: "/vms/",
    prefix: true,
    shown: "/vms/NAME",
    methods: { GET: ({ lab, name }) => vmRoute(lab, name) },
  },
  {
    path: "/capture",
    prefix: false,
    shown: "/capture?link=NAME",
    params: ["link"],
    methods: {
      GET: ({ lab, query, req }) => captureStream(lab, query, req.signal),
      HEAD: ({ lab, query }) => captureHead(lab, query),
    },
  },
  {
    path: "/captures/",
    prefix: true,
    shown: "/captures/ID",
    methods: {
      GET: ({ lab, name }) => captureCountsRoute(lab, name, "GET"),
      DELETE: ({ lab, name }) => captureCountsRoute(lab, name, "DELETE"),
    },
  },
  {
    path: "/partitions",
    prefix: false,
    shown: "/partitions",
    methods: {
      GET: ({ lab }) => Response.json(lab.links.partitions()),
      POST: withJson(({ lab }, body) => partitionRoute(lab, "/partitions", body)),
    },
  },
  {
    path: "/exec",
    prefix: false,
    shown: "/exec",
    methods: { POST: withJson(({ lab, req }, body) => execRoute(lab, body, req.signal)) },
  },
  {
    path: "/execs",
    prefix: false,
    shown: "/execs",
    methods: { GET: ({ lab }) => execListRoute(lab) },
  },
  {
    path: "/execs/",
    prefix: true,
    shown: "/execs/ID",
    methods: { DELETE: ({ lab, name }) => execCancelRoute(lab, name) },
  },
  {
    path: "/links/",
    prefix: true,
    shown: "/links/NAME",
    methods: { POST: withJson(({ lab, name }, body) => linkRoute(lab, name, body)) },
  },
  {
    path: "/heal",
    prefix: false,
    shown: "/heal",
    methods: { POST: withJson(({ lab }, body) => partitionRoute(lab, "/heal", body)) },
  },
  {
    path: "/faults",
    prefix: false,
    shown: "/faults",
    methods: { POST: withJson(({ lab }, body) => faultRoute(lab, body)) },
  },
  {
    path: "/down",
    prefix: false,
    shown: "/down",
    methods: {
      POST: async ({ lab, options, req }) => {
        const refused = await downBodyRefusal(req);
        if (refused !== null) return refused;
        setTimeout(options.onDown, 0);
        return Response.json({ stopping: lab.plan.name }, { status: 202 });
      },
    },
  },
];

/** The methods a route takes, for `Allow`: HEAD wherever GET is. */
function allowed(route: Route): string[] {
  return METHODS.filter((m) =>
    route.methods[m] !== undefined || (m === "HEAD" && route.methods.GET)
  );
}

/** The 404 hint: every route, grouped by method (`GET /lab /metrics …; POST /exec …`). */
function endpointList(): string {
  return METHODS.filter((m) => m !== "HEAD").map((m) => {
    const paths = ROUTES.filter((r) => r.methods[m] !== undefined).map((r) => r.shown);
    return `${m} ${paths.join(" ")}`;
  }).join("; ");
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
  const { path, query } = target;
  const method = req.method;
  const route = ROUTES.find((r) =>
    r.prefix ? path.startsWith(r.path) && path.length > r.path.length : path === r.path
  );
  if (route === undefined) {
    return fail(
      404,
      "not-found",
      `No such endpoint: ${method} ${path}`,
      `Endpoints: ${endpointList()}`,
    );
  }
  const call: Call = {
    lab,
    req,
    options,
    name: route.prefix ? segment(path.slice(route.path.length)) : "",
    query,
  };
  const handler = route.methods[method as (typeof METHODS)[number]];
  const asGet = handler === undefined && method === "HEAD" ? route.methods.GET : undefined;
  if (handler !== undefined || asGet !== undefined) {
    const shown = `${method} ${route.prefix ? route.shown : route.path}`;
    const refused = queryRefusal(shown, query, route.params ?? []);
    if (refused !== null) return method === "HEAD" ? withoutBody(refused) : refused;
  }
  if (handler !== undefined) return await handler(call);
  if (asGet !== undefined) return withoutBody(await asGet(call));
  const allow = allowed(route);
  const answer = fail(
    405,
    "method-not-allowed",
    `${path} does not accept ${method}`,
    `Use ${allow.join(" or ")}`,
  );
  answer.headers.set("allow", allow.join(", "));
  return answer;
}

/**
 * The answer to a HEAD: GET's status and headers, no body (RFC 9110 §9.3.2). A body made
 * whole (JSON, text) is measured for its `content-length`; the GET's work is done either way.
 */
async function withoutBody(res: Response): Promise<Response> {
  const headers = new Headers(res.headers);
  if (res.body !== null) {
    headers.set("content-length", String((await res.arrayBuffer()).byteLength));
  }
  return new Response(null, { status: res.status, statusText: res.statusText, headers });
}

/**
 * `GET /vms/NAME`: the VM's state, where its reboot after `vm-crash` is while it reboots (its
 * guest, null then, reports nothing), and what its guest reports.
 */
async function vmRoute(lab: Lab, vm: string): Promise<Response> {
  if (!lab.plan.vms.some((v) => v.name === vm)) return unknownVm(lab, vm);
  const reboot = lab.rebootOf(vm);
  return Response.json({
    name: vm,
    state: lab.vmState(vm),
    ...(reboot === null ? {} : { reboot }),
    guest: await lab.inspect(vm),
  });
}

/** `GET /switches`: every switch's MAC table. */
async function allSwitches(lab: Lab): Promise<Response> {
  const names = l2Switches(lab.plan);
  const tables = await Promise.all(names.map((n) => lab.macTable(n)));
  const missing = names.filter((_, i) => tables[i] === null);
  return missing.length > 0 ? notAnswering(missing[0]) : Response.json(tables);
}

/**
 * `GET /ring?vm=a&nic=eth0&queue=1`: 400 for missing or malformed parameters, 404 for an unknown
 * VM, device or queue (`unknown-vm`, `unknown-device`, `unknown-queue`), 409 for a vhost-pci-net
 * device (`no-queues`).
 */
function ringView(lab: Lab, params: URLSearchParams): Response {
  const vm = params.get("vm");
  const nic = params.get("nic");
  const queue = params.get("queue");
  if (!vm || !nic || queue === null) {
    return fail(
      400,
      "bad-request",
      "GET /ring needs the parameters vm, nic and queue (a queue index)",
      "For example /ring?vm=a&nic=eth0&queue=1 (0 receiveq, 1 transmitq)",
    );
  }
  if (!/^\d{1,5}$/.test(queue)) {
    // All three are there: the queue is what is wrong (a name, as `vlab fault` takes, or junk).
    const device = lab.plan.vms.find((v) => v.name === vm)?.devices.find((d) => d.name === nic);
    const names = device?.kind === "vhost-pci"
      ? []
      : device?.queues.map((q, i) => `${i} ${q.name}`);
    return fail(
      400,
      "bad-request",
      `GET /ring takes the queue's index, got ${quoteForLine(queue)}`,
      names && names.length > 0
        ? `Queues of ${vm}:${nic}: ${names.join(", ")}`
        : "For example /ring?vm=a&nic=eth0&queue=1 (0 receiveq, 1 transmitq)",
    );
  }
  const view = takeRingView(lab, { vm, nic, queue: Number(queue) });
  if (view.ok) return Response.json(view.value);
  // The codes and statuses of `POST /faults`: 404 for what the lab lacks, 409 for a device
  // (vhost-pci-net) that has no queues of its own.
  const { code, message, hint } = view.error;
  return fail(code === "no-queues" ? 409 : 404, code, message, hint);
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
    vmsHint(lab.plan.vms.map((v) => v.name)),
  );
}
