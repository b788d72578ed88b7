/**
 * The control server's workloads: `POST /exec` runs one in a VM's guest and answers its result;
 * `GET /execs` lists the ones running; `DELETE /execs/ID` stops one and answers what it had
 * measured so far.
 *
 * Why a cancel route: a client that is interrupted (Ctrl-C in `vlab exec` or `vlab pingall`)
 * used to abort its `POST /exec`. The lab noticed and stopped the workload, whose partial result
 * (three pings sent, two replies) then had nowhere to go: the connection that would have carried
 * it was gone. Now each workload has an id, the client's own (`"id"` in the body) or one the lab
 * gives (`exec-N`); the interrupted client sends `DELETE /execs/ID` on another connection, the
 * workload stops early, and its partial result answers both the `DELETE` and the `POST`, each
 * with `"cancelled": true`. A lab that stops (`vlab down`) ends its workloads early too: their
 * answers say `"cancelledBy": "lab-stopped"` (they used to read as complete runs: a `ping -c 100`
 * cut at 15 printed its 15 and exited 0). A client that goes away without asking still stops its workload (the
 * lab notices the aborted request), as before.
 *
 * A client that asks for `"stream": true` gets the workload's lines as they happen (a ping's
 * replies: `Lab.exec`'s `onLine`) as NDJSON, `{"line": "…"}` each, then the answer itself as the
 * last line (the body `POST /exec` answers without `stream`: `{"id", "result", …}`, or
 * `{"error": …}` for a failure after lines had gone). The answer's head goes with the first line;
 * an answer that comes before any line (every refusal, a workload that cannot run, one that says
 * no lines) is the plain one, status and all, so only a failure after lines had gone (its worker
 * failed, its VM crashed) is said in the stream: `{"error": …}`, with `result` beside it when the
 * lab heard what the workload had done (a ping's counts: its statistics in `result.text`, as
 * iputils prints them when interrupted). Why a body key and not an `Accept` header: every option
 * of this server's routes is a key of the JSON body, checked as the others, and a lab that does
 * not know the key refuses it (`bad-request`) where an unknown header would be ignored without a
 * word.
 *
 * A streaming client that stops reading (a `vlab exec … | sleep 60`, whose blocked stdout stops
 * the command, or a `socat` that never reads) must not make the lab hold every line of a
 * `ping -c 1000000 -i 0.001` in its memory. As a capture does with its frames
 * (`server_capture.ts`), the lab holds at most {@linkcode EXEC_LINE_QUEUE_BYTES} of lines its
 * reader has not taken and drops the lines beyond, whole, counting them: the workload runs on at
 * its own pace (a ping's interval is what it measures by), and the last line says how many were
 * dropped (`droppedLines`), so a client knows the stream has gaps and that the result, which
 * counts every reply, is whole.
 *
 * Runs on the main thread, inside the control server's handler.
 *
 * @module
 */

import type { Lab } from "./lab.ts";
import { describeJsonValue, fail, quoteForLine, unknownKeyRefusal } from "./server_answers.ts";
import { vmsHint } from "./errors.ts";

/**
 * Bytes of lines the lab holds for one streamed `POST /exec` whose reader does not keep up (a
 * stopped pipe, a client that never reads), 4 MiB: about 50000 ping lines, nearly a minute of a
 * `ping -i 0.001`. Past it the lab drops the lines it cannot hold (counted in the answer's
 * `droppedLines`) instead of holding them until it runs out of memory; the workload loses nothing.
 */
export const EXEC_LINE_QUEUE_BYTES = 4 * 1024 * 1024;

/** What a client-chosen exec id may be: 1 to 64 letters, digits, `.`, `_`, `:` or `-`. */
export const EXEC_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** One workload running (an entry of `GET /execs`). */
export interface ExecEntry {
  /** Its id: the client's `"id"`, or `exec-N`. */
  id: string;
  /** The VM that runs it. */
  vm: string;
  /** Its words, as sent. */
  argv: string[];
  /** When it started (ISO 8601). */
  startedAt: string;
  /** True once a `DELETE /execs/ID` asked it to stop. */
  cancelled: boolean;
}

/** An answer, before it is a `Response`: its status and its JSON body. */
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface Running {
  entry: ExecEntry;
  abort: AbortController;
  /** The answer the `POST /exec` gets, and a `DELETE` too (each its own `Response`). */
  answer: Promise<Answer>;
}

/**
 * A failure's answer with what the workload had done before it failed, as the lab heard it
 * (`result`: a streamed ping cut by a `vm-crash`, its statistics in `text`), when it knows.
 */
const withPartial = (a: Answer, partial: unknown): Answer =>
  partial === undefined ? a : { ...a, body: { ...a.body, result: partial } };

const respond = (a: Answer): Response => Response.json(a.body, { status: a.status });

/** A failure's answer (the body `fail` in server_answers.ts gives). */
const failure = (status: number, code: string, message: string, hint: string): Answer => ({
  status,
  body: { error: { code, message, hint } },
});

/** The workloads running under one lab's control server, by id. */
const registries = new WeakMap<Lab, { next: number; running: Map<string, Running> }>();

function registryOf(lab: Lab): { next: number; running: Map<string, Running> } {
  let r = registries.get(lab);
  if (!r) {
    r = { next: 1, running: new Map() };
    registries.set(lab, r);
  }
  return r;
}

/**
 * `POST /exec`: `{"vm": "a", "argv": ["ping", "10.0.0.2"], "id": "mine-1"}` (`id` optional) →
 * `{"id", "result", "cancelled", "cancelledBy"}`: `cancelled` when the workload was stopped
 * before it was done and `result` is partial, `cancelledBy` `"client"` (a `DELETE /execs/ID`)
 * or `"lab-stopped"` (the lab stopped meanwhile), else null; 409 `exec-id-taken` for the id of
 * a workload still running; 503 `lab-stopping` for a workload the lab refused or that failed
 * because it is stopping.
 * The workload stops when `signal` aborts (its client went) or a `DELETE /execs/ID` comes.
 * A stream holds at most `queueBytes` of lines its reader has not taken (default
 * {@linkcode EXEC_LINE_QUEUE_BYTES}); the lines beyond are dropped and counted (`droppedLines`).
 *
 * @example
 * ```ts ignore
 * import { execRoute } from "./server_exec.ts";
 * const res = await execRoute(lab, { ok: true, value: { vm: "a", argv: ["ping", "10.0.0.2"] } }, req.signal);
 * ```
 */
export async function execRoute(
  lab: Lab,
  body: { ok: true; value: unknown } | { ok: false },
  signal: AbortSignal,
  queueBytes: number = EXEC_LINE_QUEUE_BYTES,
): Promise<Response> {
  const v = body.ok ? body.value as { vm?: unknown; argv?: unknown; id?: unknown } : null;
  if (
    v === null || typeof v !== "object" || Array.isArray(v) || typeof v.vm !== "string" ||
    !Array.isArray(v.argv) || !v.argv.every((a) => typeof a === "string")
  ) {
    return fail(
      400,
      "bad-request",
      "POST /exec needs a JSON body with a string `vm` and a string array `argv`",
      `For example {"vm": "a", "argv": ["ping", "10.0.0.2", "-c", "3"]}`,
    );
  }
  const unknown = unknownKeyRefusal("POST /exec", v as Record<string, unknown>, [
    "vm",
    "argv",
    "id",
    "stream",
  ]);
  if (unknown !== null) return unknown;
  const stream = (v as { stream?: unknown }).stream;
  if (stream !== undefined && typeof stream !== "boolean") {
    return fail(
      400,
      "bad-request",
      `POST /exec: "stream" must be true or false, got ${describeJsonValue(stream)}`,
      "Send true for the workload's lines as they happen (NDJSON), or leave it out",
    );
  }
  if (v.id !== undefined && (typeof v.id !== "string" || !EXEC_ID.test(v.id))) {
    return fail(
      400,
      "bad-request",
      `POST /exec: "id" must be 1 to 64 letters, digits, ".", "_", ":" or "-", got ${
        describeJsonValue(v.id)
      }`,
      'Leave it out (the lab gives one) or send one such as "pingall-4711-3"',
    );
  }
  if (!lab.plan.vms.some((x) => x.name === v.vm)) {
    return fail(
      404,
      "unknown-vm",
      `The lab has no VM ${quoteForLine(v.vm)}`,
      vmsHint(lab.plan.vms.map((x) => x.name)),
    );
  }
  const registry = registryOf(lab);
  let id = v.id;
  if (id === undefined) {
    do id = `exec-${registry.next++}`; while (registry.running.has(id));
  } else if (registry.running.has(id)) {
    return fail(
      409,
      "exec-id-taken",
      `A workload with id ${quoteForLine(id)} is running`,
      "Give each workload its own id (or none: the lab gives one); GET /execs lists them",
    );
  }
  const abort = new AbortController();
  const onGone = () => abort.abort();
  signal.addEventListener("abort", onGone, { once: true });
  const entry: ExecEntry = {
    id,
    vm: v.vm,
    argv: v.argv as string[],
    startedAt: new Date().toISOString(),
    cancelled: false,
  };
  const lines = stream === true ? new LineStream(abort, queueBytes) : null;
  const answer = lab.exec(v.vm, entry.argv, {
    signal: abort.signal,
    ...(lines !== null ? { onLine: (line: string) => lines.line(line) } : {}),
  }).then((out): Answer => {
    // Cut short by the lab's stop (`vlab down`), which ends every workload early: `Lab.exec`
    // answers it as a failure (`no-lab`) with what it had measured, which goes to the client
    // as the answer of a cancelled run, as it did before: `cancelledBy` says who cut it.
    if (!out.ok && out.code === "no-lab" && out.partial !== undefined) {
      return {
        status: 200,
        body: { id: entry.id, result: out.partial, cancelled: true, cancelledBy: "lab-stopped" },
      };
    }
    // Stopped by a DELETE, or by the lab stopping (`vlab down`), which ends every workload early:
    // its result is partial either way, and the client must not read it as the whole run.
    const cancelledBy = entry.cancelled ? "client" : lab.stopped ? "lab-stopped" : null;
    return out.ok
      ? {
        status: 200,
        body: { id: entry.id, result: out.result, cancelled: cancelledBy !== null, cancelledBy },
      }
      : withPartial(
        lab.stopped
          // Refused or ended because the lab is stopping: not the workload's failure.
          ? failure(503, "lab-stopping", out.message, out.hint)
          : failure(422, out.code ?? "workload-failed", out.message, out.hint),
        out.partial,
      );
  });
  registry.running.set(id, { entry, abort, answer });
  if (signal.aborted) onGone();
  const ended = answer.finally(() => {
    registry.running.delete(id);
    signal.removeEventListener("abort", onGone);
  });
  if (lines === null) return respond(await ended);
  // The first line or the answer, whichever comes first: an answer with no line before it is the
  // plain one; else the stream goes, with the answer as its last line.
  if (await Promise.race([ended.then(() => false), lines.started])) {
    return lines.response(ended);
  }
  return respond(await ended);
}

/**
 * The lines of one streamed `POST /exec`: held until the answer's head goes (with the first
 * line), then queued as they come, up to `queueBytes` that the reader has not taken (past it a
 * line is dropped and counted, as a capture drops frames); the answer, with `droppedLines`,
 * closes the stream. A reader that goes away stops the workload, as an aborted request does.
 */
class LineStream {
  readonly #encoder = new TextEncoder();
  readonly #held: Uint8Array[] = [];
  #out: ReadableStreamDefaultController<Uint8Array> | null = null;
  #closed = false;
  #dropped = 0;
  #start!: (yes: true) => void;
  /** Resolves (true) at the first line. */
  readonly started = new Promise<true>((resolve) => this.#start = resolve);

  constructor(readonly abort: AbortController, readonly queueBytes: number) {}

  /** A line of the workload, as it happens. */
  line(line: string): void {
    if (this.#closed) return;
    if (this.#out === null) {
      this.#held.push(this.#encoder.encode(JSON.stringify({ line }) + "\n"));
      this.#start(true);
      return;
    }
    // A reader that fell behind leaves its queue full: drop the line (counted) rather than hold
    // every line of the run in the lab's memory.
    if ((this.#out.desiredSize ?? 0) <= 0) {
      this.#dropped++;
      return;
    }
    this.#out.enqueue(this.#encoder.encode(JSON.stringify({ line }) + "\n"));
  }

  /** The streamed answer: the lines so far, those to come, then the answer's body. */
  response(answer: Promise<Answer>): Response {
    const body = new ReadableStream<Uint8Array>({
      start: (out) => {
        this.#out = out;
        for (const chunk of this.#held.splice(0)) out.enqueue(chunk);
        void answer.then(({ body }) => {
          if (this.#closed) return;
          this.#closed = true;
          // Past the queue's bound too: the answer is never dropped.
          const last = { ...body, droppedLines: this.#dropped };
          out.enqueue(this.#encoder.encode(JSON.stringify(last) + "\n"));
          out.close();
        });
      },
      cancel: () => {
        // The client went (its connection closed) mid-stream: the workload stops.
        this.#closed = true;
        this.abort.abort();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: this.queueBytes }));
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  }
}

/**
 * `GET /execs`: the workloads running, oldest first.
 *
 * @example
 * ```ts ignore
 * import { execListRoute } from "./server_exec.ts";
 * await execListRoute(lab).json(); // [{ id: "exec-1", vm: "a", argv: ["sink"], ... }]
 * ```
 */
export function execListRoute(lab: Lab): Response {
  return Response.json([...registryOf(lab).running.values()].map((r) => r.entry));
}

/**
 * `DELETE /execs/ID`: stop that workload and answer what it had done, as its `POST /exec` does
 * (`{"id", "result", "cancelled": true}`); 404 `unknown-exec` when no workload with that id runs.
 *
 * @example
 * ```ts ignore
 * import { execCancelRoute } from "./server_exec.ts";
 * await execCancelRoute(lab, "pingall-4711-3"); // {"id", "result": {transmitted: 2, ...}, "cancelled": true}
 * ```
 */
export async function execCancelRoute(lab: Lab, id: string): Promise<Response> {
  const running = registryOf(lab).running;
  const r = running.get(id);
  if (r === undefined) {
    const ids = [...running.keys()];
    return fail(
      404,
      "unknown-exec",
      `No workload with id ${quoteForLine(id)} is running`,
      ids.length > 0
        ? `Running: ${ids.slice(0, 10).map(quoteForLine).join(", ")}${ids.length > 10 ? ", …" : ""}`
        : "No workload is running; one that ended has answered its POST /exec",
    );
  }
  r.entry.cancelled = true;
  r.abort.abort();
  return respond(await r.answer);
}
