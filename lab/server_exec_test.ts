/**
 * The control server's workloads by id: `GET /execs` lists them, `DELETE /execs/ID` stops one,
 * and its partial result answers both the `DELETE` and its `POST /exec`; `execCancellable` (the
 * client of `vlab exec` and `vlab pingall`) turns an interrupt into that cancel.
 *
 * The lab's workers, the server and its connections outlive a single tick of the event loop, so
 * the resource and op sanitizers are off; the server, every client and the lab are closed in
 * `finally`.
 */

import assert from "node:assert/strict";
import { type Body, type Env, withServer } from "./server_testing.ts";
import { execCancellable } from "./client.ts";
import { LabError, PartialExecError } from "./errors.ts";
import { within } from "./testing.ts";

const post = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

/** Wait (polling, with a deadline) until `GET /execs` lists `id`. */
async function untilListed(env: Env, id: string): Promise<Body> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const list = await env.call("/execs");
    const entry = list.body.find((e: { id: string }) => e.id === id);
    if (entry !== undefined) return entry;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`GET /execs never listed ${id}`);
}

/** 100 pings 100 ms apart: 10 s unless stopped. */
const LONG_PING = ["ping", "10.0.0.2", "-c", "100", "-i", "0.1"];

Deno.test({
  name: "DELETE /execs/ID stops a running ping; it and the POST /exec answer its partial counts",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const t0 = performance.now();
      const running = env.call("/exec", post({ vm: "a", argv: LONG_PING, id: "mine-1" }));
      const entry = await untilListed(env, "mine-1");
      assert.equal(entry.vm, "a");
      assert.deepEqual(entry.argv, LONG_PING);
      assert.equal(entry.cancelled, false);

      const cancel = await within(
        10_000,
        "DELETE",
        env.call("/execs/mine-1", { method: "DELETE" }),
      );
      const done = await within(10_000, "POST", running);
      assert.ok(performance.now() - t0 < 8000, "stopped early, not after its 100 pings");
      for (const r of [cancel, done]) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.id, "mine-1");
        assert.equal(r.body.cancelled, true);
        assert.equal(r.body.cancelledBy, "client");
        assert.equal(r.body.result.kind, "ping");
        assert.ok(r.body.result.transmitted < 100, `sent ${r.body.result.transmitted}`);
      }
      assert.deepEqual(cancel.body, done.body);

      // Ended: no longer listed, nor cancellable; the hint says so.
      assert.deepEqual((await env.call("/execs")).body, []);
      const again = await env.call("/execs/mine-1", { method: "DELETE" });
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, "unknown-exec");

      // A workload without an id gets one; one that ends on its own is not `cancelled`.
      const plain = await env.call(
        "/exec",
        post({ vm: "a", argv: ["ping", "10.0.0.2", "-c", "1"] }),
      );
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
      assert.match(plain.body.id, /^exec-\d+$/);
      assert.equal(plain.body.cancelled, false);
      assert.equal(plain.body.cancelledBy, null);
      assert.equal(plain.body.result.received, 1);
    }),
});

Deno.test({
  name: "POST /exec refuses a malformed id (400) and the id of a workload still running (409)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      for (const id of ["", "a b", "x".repeat(65), 7, "\u001b[31m"]) {
        const r = await env.call("/exec", post({ vm: "a", argv: ["ping", "10.0.0.2"], id }));
        assert.equal(r.status, 400, JSON.stringify(id));
        assert.equal(r.body.error.code, "bad-request");
        assert.ok(!r.body.error.message.includes("\u001b"), r.body.error.message);
      }
      const sink = env.call("/exec", post({ vm: "b", argv: ["sink", "-t", "30"], id: "dup" }));
      await untilListed(env, "dup");
      const twice = await env.call("/exec", post({ vm: "a", argv: LONG_PING, id: "dup" }));
      assert.equal(twice.status, 409, JSON.stringify(twice.body));
      assert.equal(twice.body.error.code, "exec-id-taken");
      assert.equal((await env.call("/execs/dup", { method: "DELETE" })).status, 200);
      assert.equal((await within(10_000, "sink", sink)).body.cancelled, true);
    }),
});

Deno.test({
  name:
    "execCancellable: an aborted signal stops the workload and resolves with its partial result",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const abort = new AbortController();
      const t0 = performance.now();
      const running = execCancellable<{ transmitted: number; received: number }>(
        env.record,
        "a",
        LONG_PING,
        { signal: abort.signal, idPrefix: "t" },
      );
      const entry = await untilListed(env, `t-${Deno.pid}-1`);
      assert.equal(entry.vm, "a");
      abort.abort();
      const answer = await within(10_000, "cancelled exec", running);
      assert.ok(performance.now() - t0 < 8000, "stopped early, not after its 100 pings");
      assert.equal(answer.cancelled, true);
      assert.ok(answer.result.transmitted < 100, `sent ${answer.result.transmitted}`);
      assert.ok(answer.result.received <= answer.result.transmitted);

      // Aborted before the call: the cancel may overtake the POST, and is tried again until it lands.
      const early = new AbortController();
      early.abort();
      const t1 = performance.now();
      const at = await within(
        10_000,
        "exec aborted before it began",
        execCancellable<{ transmitted: number }>(env.record, "a", LONG_PING, {
          signal: early.signal,
        }),
      );
      assert.equal(at.cancelled, true);
      assert.ok(performance.now() - t1 < 8000, "stopped early, not after its 100 pings");
    }),
});

Deno.test({
  name:
    "a workload cut short by the lab stopping says so (cancelledBy lab-stopped), not a whole run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      // A ping -c 100 cut at 15 by `vlab down` answered its 15 as a whole run (exit 0).
      const running = env.call("/exec", post({ vm: "a", argv: LONG_PING, id: "downed" }));
      // The client's: it threw no error, and vlab pingall's caller had to look at cancelledBy.
      const client = execCancellable<{ transmitted: number }>(env.record, "a", LONG_PING, {
        idPrefix: "downed",
      });
      const clientCut = client.then(
        () => assert.fail("execCancellable resolved a run the lab's stop cut short"),
        (e: unknown) => e,
      );
      await untilListed(env, "downed");
      // The client's id is `downed-PID-N`, N counted over this file's calls.
      const deadline = performance.now() + 10_000;
      while (
        !(await env.call("/execs")).body.some((x: { id: string }) => x.id.startsWith("downed-"))
      ) {
        assert.ok(performance.now() < deadline, "GET /execs never listed the client's ping");
        await new Promise((r) => setTimeout(r, 20));
      }
      await env.lab.stop();
      const e = await within(10_000, "execCancellable", clientCut);
      assert.ok(e instanceof PartialExecError, String(e));
      assert.equal(e.code, "no-lab");
      assert.match(e.message, /^The workload was cut short: lab "[^"]+" stopped while it ran$/);
      assert.ok(e.partial.kind === "ping" && e.partial.transmitted < 100);
      const r = await within(10_000, "POST", running);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.cancelled, true);
      assert.equal(r.body.cancelledBy, "lab-stopped");
      assert.ok(r.body.result.transmitted < 100, `sent ${r.body.result.transmitted}`);

      // Afterwards (the server still up): refused as the lab's state, not as the workload's
      // failure (a 422 that pingall counted as a pair with no reply).
      const late = await env.call("/exec", post({ vm: "a", argv: ["ping", "10.0.0.2"] }));
      assert.equal(late.status, 503, JSON.stringify(late.body));
      assert.equal(late.body.error.code, "lab-stopping");
      await assert.rejects(
        execCancellable(env.record, "a", ["ping", "10.0.0.2"]),
        (e: unknown) => e instanceof LabError && e.code === "no-lab",
      );
    }),
});
